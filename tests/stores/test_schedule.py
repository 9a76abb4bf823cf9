"""The hourly housekeeping: stale stores, expired tokens, and warnings about tokens that expire
within 24 hours (once per token, by e-mail in Chinese and English, and in the portal)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from stores import services
from stores.models import Store, StoreStatusChange
from tenants.roles import TenantRole
from tenants.scope import current_tenant
from tests.conftest import add_member, client_for
from tests.stores.conftest import make_store, reload

Status = Store.Status


@pytest.mark.django_db
def test_the_schedule_is_created_by_a_migration():
    schedule = Schedule.objects.get(func="stores.services.check_store_health")
    assert schedule.schedule_type == Schedule.HOURLY and schedule.repeats == -1


def test_health_check_runs_across_tenants_outside_any_scope(tenant_a, tenant_b, owner_a, owner_b,
                                                            settings, mailoutbox):
    settings.STORE_STALE_AFTER_HOURS = 24
    now = timezone.now()
    long_ago = now - timedelta(hours=30)
    fresh = make_store(tenant_a, owner_a, shop_id="A-fresh", last_synced_at=now,
                       status=Status.HEALTHY)
    stale = make_store(tenant_a, owner_a, shop_id="A-stale", last_synced_at=long_ago,
                       authorized_at=long_ago, status=Status.HEALTHY)
    expired = make_store(tenant_b, owner_b, shop_id="B-expired",
                         token_expires_at=now - timedelta(minutes=5))
    revoked = make_store(tenant_b, owner_b, shop_id="B-revoked", status=Status.REVOKED,
                         access_token="", token_expires_at=None, authorized_at=long_ago)
    assert current_tenant() is None

    result = services.check_store_health()

    assert (reload(fresh).status, reload(stale).status, reload(expired).status,
            reload(revoked).status) == (Status.HEALTHY, Status.STALE, Status.TOKEN_EXPIRED,
                                        Status.REVOKED)
    assert reload(expired).last_error_code == "ERR_TOKEN_EXPIRED"
    assert result == services.HealthCheckResult(checked=3, changed=2, warned=0)
    changes = StoreStatusChange.unscoped.order_by("id")
    assert [(c.store_id, c.tenant_id, c.to_status) for c in changes] == [
        (stale.pk, tenant_a.pk, "stale"), (expired.pk, tenant_b.pk, "token_expired")]
    assert mailoutbox == []
    # Running again changes nothing.
    assert services.check_store_health().changed == 0


def test_owners_are_warned_once_per_token_in_both_languages(tenant_a, owner_a, operator_a,
                                                            mailoutbox):
    second_owner = add_member(tenant_a, TenantRole.OWNER)
    now = timezone.now()
    soon = make_store(tenant_a, owner_a, shop_id="A-soon", display_name="Soon Shop",
                      token_expires_at=now + timedelta(hours=5))
    make_store(tenant_a, owner_a, shop_id="A-later", display_name="Later Shop",
               token_expires_at=now + timedelta(hours=30))

    assert services.check_store_health().warned == 1
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert sorted(message.to) == sorted([owner_a.email, second_owner.email])
    assert operator_a.email not in message.to
    assert "Soon Shop" in message.body and "Later Shop" not in message.body
    assert "24 小时" in message.subject or "24小时" in message.subject \
        or "24 hours" in message.subject
    zh, en = message.body.split("\n\n----\n\n")
    assert "re-authorize" in en and "Soon Shop" in zh
    assert reload(soon).expiry_warning_sent_at is not None

    # Once per token: the next hours send nothing more.
    assert services.check_store_health().warned == 0
    assert len(mailoutbox) == 1


def test_a_new_token_gets_its_own_warning(tenant_a, owner_a, mailoutbox):
    store = make_store(tenant_a, owner_a, token_expires_at=timezone.now() + timedelta(hours=2))
    services.check_store_health()
    assert len(mailoutbox) == 1
    # Re-authorization replaces the token (the service resets the warning; see
    # test_authorization for the real exchange). Simulate the reset's effect on the row:
    Store.unscoped.filter(pk=store.pk).update(
        expiry_warning_sent_at=None, token_expires_at=timezone.now() + timedelta(hours=3))
    services.check_store_health()
    assert len(mailoutbox) == 2


def test_no_owner_no_mail_but_the_portal_still_warns(tenant_a, owner_a, operator_a, mailoutbox):
    from tenants.models import Membership

    store = make_store(tenant_a, owner_a, display_name="Quiet Shop",
                       token_expires_at=timezone.now() + timedelta(hours=3))
    Membership.unscoped.filter(user=owner_a).update(role=TenantRole.OPERATOR)
    assert services.check_store_health().warned == 1
    assert mailoutbox == []
    for url in ("/portal/", "/portal/stores/"):
        page = client_for(operator_a, tenant_a).get(url, HTTP_ACCEPT_LANGUAGE="en")
        text = page.content.decode()
        assert "Some stores need you" in text and "Quiet Shop" in text, url
        assert f"/portal/stores/{store.pk}/" in text


def test_the_portal_banner_is_quiet_when_all_is_well(tenant_a, owner_a):
    make_store(tenant_a, owner_a, display_name="Fine Shop")
    for url in ("/portal/", "/portal/stores/"):
        text = client_for(owner_a, tenant_a).get(url).content.decode()
        assert "store-attention" not in text, url
