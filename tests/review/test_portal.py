"""The review pages: queue (filters, order, tabs, bulk approve, bulk publish), item page (side
by side, diff, flags, decisions, publishing, audit trail), settings, dashboard and nav badge;
roles and tenant isolation."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from generation.models import TenantBannedWord
from review import services
from review.models import Review, ReviewSettings
from review.views import diff_html
from sandbox import pool, shops
from stores.models import Store
from tenants.roles import TenantRole
from tenants.scope import tenant_scope
from tests.conftest import add_member
from tests.conftest import client_for as signed_in
from tests.conftest import english_client as client_for
from tests.review.conftest import make_job, make_product, plain_store, review_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

Status = Review.Status
QUEUE = reverse("review")


def item_url(review: Review, action: str = "") -> str:
    url = reverse("review_item", args=[review.pk])
    return f"{url}{action}/" if action else url


def row_ids(response) -> list[int]:
    return [int(found) for found in re.findall(r'<tr data-review-id="(\d+)"',
                                               response.content.decode())]


def reload(review: Review) -> Review:
    return Review.unscoped.select_related("item").get(pk=review.pk)


# The queue ---------------------------------------------------------------------------------

def test_the_queue_lists_pending_items_compliance_flagged_first(desk):
    clean = desk.review(0)
    flagged = desk.review(1, needs_human_check=True)
    response = client_for(desk.reviewer, desk.tenant).get(QUEUE)
    assert response.status_code == 200
    assert row_ids(response) == [flagged.pk, clean.pk]
    assert 'data-flag="compliance"' in response.content.decode()


def test_the_queue_filters_by_store_job_kind_language_and_flag(desk):
    title = desk.review(0)
    bullets = desk.review(1, kind="bullet_points")
    french = desk.review(2, language="fr", content={"title": "Bouteille isotherme en acier"})
    flagged = desk.review(3, needs_human_check=True)
    other_store = plain_store(desk.tenant, desk.owner)
    other_job = make_job(other_store, desk.owner)
    from tests.review.conftest import make_item
    elsewhere = review_of(make_item(other_job, make_product(other_store),
                                    content={"title": "Bamboo board for the kitchen"}))
    client = client_for(desk.reviewer, desk.tenant)

    def ids(**params) -> set[int]:
        return set(row_ids(client.get(QUEUE, params)))

    assert ids() == {title.pk, bullets.pk, french.pk, flagged.pk, elsewhere.pk}
    assert ids(store=other_store.pk) == {elsewhere.pk}
    assert ids(job=desk.job.pk) == {title.pk, bullets.pk, french.pk, flagged.pk}
    assert ids(kind="bullet_points") == {bullets.pk}
    assert ids(language="fr") == {french.pk}
    assert ids(flag="compliance") == {flagged.pk}
    assert ids(flag="clean") == {title.pk, bullets.pk, french.pk, elsewhere.pk}


def test_status_tabs_show_counts_and_list_their_items(desk):
    pending = desk.review(0)
    rejected = desk.review(1)
    with tenant_scope(desk.tenant):
        services.reject(rejected, reason="Wrong size", by=desk.reviewer)
    client = client_for(desk.reviewer, desk.tenant)
    page = client.get(QUEUE).content.decode()
    assert re.search(r'data-tab="pending"[^>]*>[^<]*<span class="badge">1</span>', page)
    assert re.search(r'data-tab="rejected"[^>]*>[^<]*<span class="badge">1</span>', page)
    assert row_ids(client.get(QUEUE, {"status": "rejected"})) == [rejected.pk]
    assert row_ids(client.get(QUEUE)) == [pending.pk]


def test_each_tab_badge_counts_the_items_the_tab_lists(desk):
    states = [(Status.PENDING, False), (Status.APPROVED, False), (Status.APPROVED, True),
              (Status.EDITED_APPROVED, True), (Status.REJECTED, False),
              (Status.REGENERATION_REQUESTED, False), (Status.PUBLISHED, False),
              (Status.PUBLISH_FAILED, False), (Status.PUBLISH_FAILED, True)]
    for index, (status, publishing) in enumerate(states):
        review = desk.review(index)
        Review.unscoped.filter(pk=review.pk).update(status=status, publish_pending=publishing)
    client = client_for(desk.reviewer, desk.tenant)
    page = client.get(QUEUE).content.decode()
    badges = dict(re.findall(r'data-tab="(\w+)"[^>]*>[^<]*<span class="badge">(\d+)</span>',
                             page))
    assert set(badges) == {"pending", "approved", "rejected", "regeneration_requested",
                           "published", "publish_failed"}
    listed = {tab: len(row_ids(client.get(QUEUE, {"status": tab}))) for tab in badges}
    assert {tab: int(count) for tab, count in badges.items()} == listed
    assert listed["approved"] == 3 and listed["publish_failed"] == 2


def test_the_queue_is_paginated(desk):
    for index in range(27):
        desk.review(index, content={"title": f"Distinct product number {index} " + "x" * index})
    client = client_for(desk.reviewer, desk.tenant)
    assert len(row_ids(client.get(QUEUE))) == 25
    assert len(row_ids(client.get(QUEUE, {"page": 2}))) == 2


def test_bulk_approve_refuses_flagged_items_and_says_why(desk):
    clean = desk.review(0)
    flagged = desk.review(1, needs_human_check=True)
    client = client_for(desk.reviewer, desk.tenant)
    response = client.post(reverse("review_bulk"),
                           {"action": "approve", "ids": [clean.pk, flagged.pk]}, follow=True)
    page = response.content.decode()
    assert reload(clean).status == Status.APPROVED
    assert reload(flagged).status == Status.PENDING
    assert "Approved 1 of 2 selected items." in page
    assert f'class="skipped" data-review-id="{flagged.pk}"' in page
    assert "ERR_REVIEW_NEEDS_CHECK" in page
    assert "Flagged for a person" in page


def test_bulk_publish_refusal_for_an_expired_token_links_to_the_store(desk):
    review = desk.review(0)
    with tenant_scope(desk.tenant):
        services.approve(review, by=desk.reviewer)
    Store.unscoped.filter(pk=desk.store.pk).update(status=Store.Status.TOKEN_EXPIRED)
    client = client_for(desk.reviewer, desk.tenant)
    response = client.post(reverse("review_bulk"),
                           {"action": "publish", "ids": [review.pk], "status": "approved"},
                           follow=True)
    page = response.content.decode()
    assert "Queued 0 of 1 selected items for publishing." in page
    assert "ERR_TOKEN_EXPIRED" in page
    assert "access token has expired" in page
    assert reverse("store_detail", args=[desk.store.pk]) in page
    assert reload(review).publish_pending is False


# The item page -----------------------------------------------------------------------------

def test_the_item_page_shows_original_and_ai_text_with_a_diff_and_findings(desk):
    item = desk.item(0, needs_human_check=True)
    item.compliance_hits = [{"path": "title", "rule": "banned_word", "term": "best",
                             "matched": "Best", "length": None, "limit": None}]
    item.save(update_fields=["compliance_hits"])
    review = review_of(item)
    page = client_for(desk.reviewer, desk.tenant).get(item_url(review)).content.decode()
    assert "Original listing title" in page  # the product's title
    assert "Original bullet" in page
    assert review.ai_content["title"] in page
    assert '<del class="diff-del">' in page and '<ins class="diff-ins">' in page
    assert 'data-finding="best"' in page and "“Best” matched the banned word “best”" in page
    assert "Compliance check" in page
    assert "Keyboard: a = approve" in page
    assert 'data-action="review.entered"' in page and "Entered review" in page  # labelled


def test_the_diff_is_escaped():
    html = diff_html("Plain <b>old</b>", "Plain <script>alert(1)</script>")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<del" in html and "<ins" in html


def test_the_item_page_links_the_near_duplicate(desk):
    first = desk.review(0, content={"title": "Insulated steel water bottle 750 ml, black lid"})
    second = desk.review(1, content={"title": "Insulated steel water bottle 500 ml, black lid"})
    assert reload(second).near_duplicate_of_id == first.item_id
    page = client_for(desk.reviewer, desk.tenant).get(item_url(second)).content.decode()
    assert "Near-duplicate" in page
    assert item_url(first) in page


def test_approve_from_the_page_goes_to_the_next_pending_item(desk):
    first, second = desk.review(0), desk.review(1)
    client = client_for(desk.reviewer, desk.tenant)
    response = client.post(item_url(first, "approve"), {"store": desk.store.pk})
    assert response.status_code == 302
    assert response["Location"] == item_url(second) + f"?store={desk.store.pk}"
    assert reload(first).status == Status.APPROVED
    response = client.post(item_url(second, "approve"))
    assert response["Location"] == QUEUE
    page = client.get(item_url(first)).content.decode()
    assert "Approved" in page and desk.reviewer.email in page


def test_after_a_decision_the_next_item_is_the_one_after_this_in_the_queue(desk):
    first, second, third = desk.review(0), desk.review(1), desk.review(2)
    client = client_for(desk.reviewer, desk.tenant)
    response = client.post(item_url(second, "reject"), {"reason": "Too vague"})
    assert response["Location"] == item_url(third)
    response = client.post(item_url(third, "approve"))
    assert response["Location"] == item_url(first)  # wraps round to what was skipped


def test_edit_with_a_banned_word_is_refused_with_the_message(desk):
    review = desk.review(0)
    with tenant_scope(desk.tenant):
        TenantBannedWord.objects.create(term="miracle")
    client = client_for(desk.reviewer, desk.tenant)
    response = client.post(item_url(review, "edit"), {"c.title": "A miracle water bottle"},
                           follow=True)
    assert response.redirect_chain == [(item_url(review), 302)]  # redirect after POST
    page = response.content.decode()
    assert "ERR_REVIEW_EDIT_REJECTED" in page
    assert "miracle" in page and "banned-word list" in page
    assert 'value="A miracle water bottle"' in page  # the reviewer's text stays in the form
    assert reload(review).status == Status.PENDING
    response = client.post(item_url(review, "edit"), {"c.title": "A great water bottle"})
    assert response.status_code == 302
    review = reload(review)
    assert review.status == Status.EDITED_APPROVED
    assert review.edited_content == {"title": "A great water bottle"}
    page = client.get(item_url(review)).content.decode()
    assert 'data-diff="edit"' in page


def test_edit_of_bullet_points_uses_one_input_per_bullet(desk):
    review = desk.review(0, kind="bullet_points")
    client = client_for(desk.reviewer, desk.tenant)
    page = client.get(item_url(review)).content.decode()
    assert 'name="c.bullet_points.0"' in page and 'name="c.bullet_points.4"' in page
    bullets = review.ai_content["bullet_points"]
    data = {f"c.bullet_points.{i}": text for i, text in enumerate(bullets)}
    data["c.bullet_points.4"] = "Comes with a spare lid"  # added
    data["c.bullet_points.5"] = ""  # a spare input left blank adds nothing
    assert client.post(item_url(review, "edit"), data).status_code == 302
    assert reload(review).edited_content["bullet_points"] == [*bullets, "Comes with a spare lid"]


def test_reject_needs_a_reason(desk):
    review = desk.review(0)
    client = client_for(desk.reviewer, desk.tenant)
    response = client.post(item_url(review, "reject"), {"reason": "  "}, follow=True)
    assert response.redirect_chain == [(item_url(review), 302)]
    assert "Give a reason for the rejection." in response.content.decode()
    assert reload(review).status == Status.PENDING
    assert client.post(item_url(review, "reject"), {"reason": "Wrong colour"}).status_code == 302
    review = reload(review)
    assert review.status == Status.REJECTED and review.reject_reason == "Wrong colour"
    assert "Wrong colour" in client.get(item_url(review)).content.decode()


def test_send_back_for_regeneration_with_a_note(desk):
    review = desk.review(0)
    client = client_for(desk.reviewer, desk.tenant)
    response = client.post(item_url(review, "regenerate"), {"note": "Mention 750 ml first"})
    assert response.status_code == 302
    review = reload(review)
    assert review.status == Status.REGENERATION_REQUESTED
    assert review.item.regeneration_note == "Mention 750 ml first"


def test_four_eyes_refusal_is_shown(desk):
    with tenant_scope(desk.tenant):
        services.update_settings(desk.tenant, require_four_eyes=True, by=desk.owner)
    review = desk.review(0)  # the job was started by the owner
    response = client_for(desk.owner, desk.tenant).post(item_url(review, "approve"),
                                                        follow=True)
    assert response.redirect_chain == [(item_url(review), 302)]
    page = response.content.decode()
    assert "ERR_REVIEW_FOUR_EYES" in page and "second person" in page
    assert reload(review).status == Status.PENDING


def test_owner_switches_four_eyes_in_the_settings(desk):
    client = client_for(desk.owner, desk.tenant)
    assert client.get(reverse("review_settings")).status_code == 200
    client.post(reverse("review_settings"), {"require_four_eyes": "on"})
    assert ReviewSettings.unscoped.get(tenant=desk.tenant).require_four_eyes is True
    client.post(reverse("review_settings"), {})
    assert ReviewSettings.unscoped.get(tenant=desk.tenant).require_four_eyes is False
    reviewer = client_for(desk.reviewer, desk.tenant)
    assert reviewer.get(reverse("review_settings")).status_code == 403


def test_publish_from_the_page_to_the_sandbox_and_status_shown(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    review = sandbox_desk.review(0)
    client = client_for(sandbox_desk.reviewer, sandbox_desk.tenant)
    client.post(item_url(review, "approve"))
    assert 'id="publish-form"' in client.get(item_url(review)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(item_url(review, "publish"))
    assert response.status_code == 302
    review = reload(review)
    assert review.status == Status.PUBLISHED
    [update] = sandbox.state.updates_for(pool.goods_id_for(shops.TEMU_SHOP_300, 0))
    assert update["ai_assisted"] is True and update["title"] == review.ai_content["title"]
    page = client.get(item_url(review)).content.decode()
    assert "AI-assisted flag set" in page
    assert review.publish_request_id in page
    assert "Published with the AI-assisted flag" in page


def test_a_publish_failure_shows_code_meaning_remedy_and_retry(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    review = sandbox_desk.review(0)
    client = client_for(sandbox_desk.reviewer, sandbox_desk.tenant)
    client.post(item_url(review, "approve"))
    Review.unscoped.filter(pk=review.pk).update(status=Status.PUBLISH_FAILED,
                                                publish_error_code="ERR_TEMU_403",
                                                publish_error_message="No permission")
    page = client.get(item_url(review)).content.decode()
    assert "ERR_TEMU_403" in page
    assert "authorization does not allow this call" in page
    assert "Re-authorize the store" in page
    assert "Retry publishing" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(item_url(review, "publish"))
    assert reload(review).status == Status.PUBLISHED


# Roles and tenants -------------------------------------------------------------------------

def test_a_viewer_sees_the_queue_but_cannot_decide(desk):
    review = desk.review(0)
    viewer = client_for(add_member(desk.tenant, TenantRole.VIEWER), desk.tenant)
    assert viewer.get(QUEUE).status_code == 200
    page = viewer.get(item_url(review)).content.decode()
    assert 'id="approve-form"' not in page
    for action in ("approve", "edit", "reject", "regenerate"):
        assert viewer.post(item_url(review, action), {"reason": "x"}).status_code == 403
    assert viewer.post(item_url(review, "publish")).status_code == 403
    assert viewer.post(reverse("review_bulk"),
                       {"action": "approve", "ids": [review.pk]}).status_code == 403
    assert reload(review).status == Status.PENDING


def test_another_tenant_gets_404(desk, tenant_b, owner_b):
    review = desk.review(0)
    other = client_for(owner_b, tenant_b)
    assert other.get(item_url(review)).status_code == 404
    for action in ("approve", "edit", "reject", "regenerate", "publish"):
        assert other.post(item_url(review, action), {"reason": "x"}).status_code == 404
    other.post(reverse("review_bulk"), {"action": "approve", "ids": [review.pk]})
    assert reload(review).status == Status.PENDING
    assert review.pk not in row_ids(other.get(QUEUE))


# Dashboard and navigation ------------------------------------------------------------------

def test_the_dashboard_shows_the_review_measures_and_the_nav_badge(desk):
    desk.review(0)
    desk.review(1)
    done = desk.review(2)
    with tenant_scope(desk.tenant):
        services.approve(done, by=desk.reviewer)
    page = client_for(desk.owner, desk.tenant).get(reverse("dashboard")).content.decode()
    assert re.search(r'data-measure="waiting">2<', page)
    assert re.search(r'data-measure="publish_failed">0<', page)
    assert "Reviewer throughput" in page and desk.reviewer.email in page
    assert "Approval rate per instruction version" in page
    assert re.search(r'nav-badge[^>]*>2</span>', page)


@pytest.mark.parametrize("kind", ["title", "bullet_points", "search_terms", "detail_modules",
                                  "image_description", "video_script", "livestream_script"])
def test_every_kind_renders_and_its_unchanged_form_approves_it(desk, kind):
    review = desk.review(0, kind=kind)
    client = client_for(desk.reviewer, desk.tenant)
    page = client.get(item_url(review)).content.decode()
    names = re.findall(r'name="(c\.[^"]+)"', page)
    values = dict(re.findall(r'name="(c\.[^"]+)" value="([^"]*)"', page))
    values.update(re.findall(r'name="(c\.[^"]+)" rows="\d+">([^<]*)</textarea>', page))
    assert names and set(names) == set(values)
    data = {name: html.unescape(value) for name, value in values.items()}
    assert client.post(item_url(review, "edit"), data).status_code == 302
    review = reload(review)
    assert review.status == Status.APPROVED and review.edited_content is None


def test_the_pages_render_in_the_default_language(desk):
    review = desk.review(0)
    client = signed_in(desk.owner, desk.tenant)  # Simplified Chinese
    for url in (QUEUE, item_url(review), reverse("review_settings"), reverse("dashboard")):
        assert client.get(url).status_code == 200
