"""The company's audit trail: filtered by who and what, system rows folded, targets translated;
the seller pages' confirmations, the members' names and the approved tab's publish hint."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import record
from tests.conftest import client_for


@pytest.fixture
def flooded(world_a):
    for index in range(300):
        record(AuditEvent.Action.REVIEW_ENTERED, tenant=world_a.tenant, actor=None,
               target=f"item #{1000 + index}")
    record(AuditEvent.Action.MEMBER_ROLE_CHANGED, tenant=world_a.tenant, actor=world_a.owner,
           target=world_a.reviewer.email)
    return world_a


def _client(world, language="en"):
    client = client_for(world.owner, world.tenant)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def test_system_rows_are_folded_and_people_stay_visible(flooded):
    page = _client(flooded).get(reverse("audit_trail")).content.decode()
    assert page.count('class="folded"') == 1
    assert "× 300" in page or "× 301" in page  # the fixture's own entry may join the run
    assert "Member role changed" in page


def test_the_trail_filters_by_actor_and_action(flooded):
    client = _client(flooded)
    mine = client.get(reverse("audit_trail"), {"actor": flooded.owner.pk}).content.decode()
    assert "<td>Member role changed" in mine and "<td>Entered review" not in mine
    system = client.get(reverse("audit_trail"), {"actor": "system",
                                                 "action": "review.entered"}).content.decode()
    assert "<td>Entered review" in system and "<td>Member role changed" not in system
    nonsense = client.get(reverse("audit_trail"), {"actor": "x'", "action": "nope"})
    assert nonsense.status_code == 200


def test_targets_are_translated(world_a):
    record(AuditEvent.Action.REVIEW_APPROVED, tenant=world_a.tenant, actor=world_a.owner,
           target="item #312")
    page = _client(world_a, "zh-hans").get(reverse("audit_trail")).content.decode()
    assert "条目 #312" in page and "item #312" not in page


def test_the_company_page_folds_and_links_to_the_trail(flooded):
    page = _client(flooded).get(reverse("company")).content.decode()
    assert page.count('class="folded"') == 1
    assert reverse("audit_trail") in page


def test_revoking_asks_first(world_a):
    client = _client(world_a)
    keys = client.get(reverse("api_keys")).content.decode()
    revoke = reverse("api_key_revoke", args=[world_a.api_key.pk])
    assert '<details class="confirm"' in keys
    form_at = keys.index(f'action="{revoke}"')
    assert keys.rfind("<details", 0, form_at) > keys.rfind("</details>", 0, form_at)
    assert "cannot be undone" in keys
    store = client.get(reverse("store_detail", args=[world_a.store.pk])).content.decode()
    form_at = store.index(f'action="{reverse("store_revoke", args=[world_a.store.pk])}"')
    assert store.rfind("<details", 0, form_at) > store.rfind("</details>", 0, form_at)


def test_members_without_a_name_say_so(world_a):
    page = _client(world_a).get(reverse("members")).content.decode()
    assert "not given" in page
    world_a.reviewer.name = "Li Na"
    world_a.reviewer.save(update_fields=["name"])
    assert "Li Na" in _client(world_a).get(reverse("members")).content.decode()


def test_the_approved_tab_explains_publishing_not_bulk_approval(world_a):
    from review.models import Review
    from tenants.scope import tenant_scope

    with tenant_scope(world_a.tenant):
        Review.objects.filter(pk=world_a.review.pk).update(status=Review.Status.APPROVED)
    client = _client(world_a)
    approved = client.get(reverse("review"), {"status": "approved"}).content.decode()
    assert "Publish selected approved" in approved
    assert "cannot be approved in bulk" not in approved
    assert "AI-assisted flag" in approved
    with tenant_scope(world_a.tenant):
        Review.objects.filter(pk=world_a.review.pk).update(status=Review.Status.PENDING)
    pending = client.get(reverse("review")).content.decode()
    assert "cannot be approved in bulk" in pending
