"""Before publishing, the marketplace's own banned-word check is asked as well as our filter.
Temu: `temu.local.goods.illegal.vocabulary.check` (its sandbox word list differs from ours in a
few words); AliExpress: its rules are applied by the edit itself. What a check refuses is not
published: the item goes back to review with the findings, shown to the reviewer translated."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from audit.models import AuditEvent
from generation.models import BannedWord
from review import publishing, selectors, services
from review.models import Review
from sandbox import pool, shops, vocabulary
from tenants.scope import tenant_scope
from tests.catalog.conftest import connect_store
from tests.conftest import client_for
from tests.review.conftest import Desk, make_item, make_job, make_product, review_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

Status = Review.Status
CHECK = "temu.local.goods.illegal.vocabulary.check"


def approved(desk, index: int = 0, **kwargs) -> Review:
    review = desk.review(index, **kwargs)
    with tenant_scope(desk.tenant):
        return services.approve(review, by=desk.reviewer)


def publish(desk, reviews, capture) -> None:
    with capture(execute=True), tenant_scope(desk.tenant):
        publishing.queue_publication(reviews, by=desk.reviewer)
    for review in reviews:
        review.refresh_from_db()


def test_the_sandbox_lists_differ_from_ours_in_a_few_words():
    from generation.banned_word_defaults import default_banned_terms

    ours = {term.casefold() for term in default_banned_terms("temu", "en")}
    temu = set(vocabulary.WORDS["temu"])
    assert {"medical grade", "hypoallergenic", "lifetime warranty"} <= temu - ours
    assert {"perfect", "ultimate"} <= ours - temu
    assert {"best", "#1", "guaranteed"} <= temu & ours


def test_temus_check_refuses_a_word_ours_lets_through_and_the_item_goes_back_to_review(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    BannedWord.objects.create(term="best")  # our list is on; "medical grade" is not on it
    title = "Medical Grade Silicone Baby Spoon Set of 3, Soft Tip, BPA Free, Dishwasher Safe"
    review = approved(sandbox_desk, content={"title": title})
    publish(sandbox_desk, [review], django_capture_on_commit_callbacks)

    assert sandbox.state.updates == [], "what the marketplace's check refuses is not sent"
    assert [request["api"] for request in sandbox.state.requests][-1] == CHECK
    assert review.status == Status.PENDING and not review.publish_pending
    assert review.publish_error_code == "ERR_MARKETPLACE_CONTENT_REJECTED"
    check = review.publish_check
    assert check["passed"] is False and check["ours"] == []
    assert check["marketplace"]["name"] == "temu" and check["marketplace"]["offered"] is True
    assert check["marketplace"]["request_id"].startswith("temu-")
    assert check["marketplace"]["findings"] == [{
        "field": "title", "term": "medical grade", "reason_code": "MEDICAL_CLAIM",
        "reason": "Medical or health claims are not allowed"}]
    event = AuditEvent.unscoped.filter(action=services.ACTION_PUBLISH_FAILED).get()
    assert event.details["returned_to_review"] is True
    assert event.details["marketplace"]["findings"][0]["term"] == "medical grade"

    # The reviewer sees the marketplace's findings, in Chinese (the default language).
    client = client_for(sandbox_desk.reviewer, sandbox_desk.tenant)
    answer = client.get(f"/api/v1/reviews/{review.pk}/").json()
    [finding] = answer["publish"]["check_findings"]
    assert finding == {"source": "marketplace", "marketplace": "Temu", "path": "title",
                       "term": "medical grade", "reason": "医疗或健康宣称"}
    page = client.get(reverse("review_item", args=[review.pk])).content.decode()
    assert "medical grade" in page and "医疗或健康宣称" in page
    with translation.override("en"):
        assert selectors.check_findings(review)[0]["reason"] == "a medical or health claim"

    # Approving the refused text unchanged is refused; an edit is approved and published.
    with tenant_scope(sandbox_desk.tenant), pytest.raises(services.ReviewError) as refused:
        services.approve(review, by=sandbox_desk.reviewer)
    assert refused.value.code == "ERR_MARKETPLACE_CONTENT_REJECTED"
    with tenant_scope(sandbox_desk.tenant), pytest.raises(services.ReviewError) as refused:
        services.edit_and_approve(review, content={"title": title}, by=sandbox_desk.reviewer)
    assert refused.value.code == "ERR_MARKETPLACE_CONTENT_REJECTED"
    assert "medical grade" in refused.value.message
    fixed = {"title": title.replace("Medical Grade ", "Food-Grade ")}
    with tenant_scope(sandbox_desk.tenant):
        services.edit_and_approve(review, content=fixed, by=sandbox_desk.reviewer)
    publish(sandbox_desk, [review], django_capture_on_commit_callbacks)
    assert review.status == Status.PUBLISHED
    [update] = sandbox.state.updates
    assert update["title"] == fixed["title"]
    assert review.publish_check["passed"] is True
    assert review.publish_check["marketplace"]["offered"] is True
    assert selectors.check_findings(review) == []


def test_our_list_changed_since_approval_is_applied_too(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    """Both are asked and both recorded: ours refuses "perfect" (Temu's list lets it
    through), the marketplace's check finds nothing."""
    review = approved(sandbox_desk, content={
        "title": "Perfect Fit Stretch Sofa Cover for 3 Seat Sofas, Machine Washable, Grey"})
    BannedWord.objects.create(term="perfect")  # added by ISV staff after the approval
    publish(sandbox_desk, [review], django_capture_on_commit_callbacks)
    assert sandbox.state.updates == []
    assert review.status == Status.PENDING
    assert review.publish_error_code == "ERR_CONTENT_REJECTED"
    assert review.publish_check["marketplace"]["findings"] == []
    assert [entry["term"] for entry in review.publish_check["ours"]] == ["perfect"]
    [finding] = selectors.check_findings(review)
    assert (finding["source"], finding["term"]) == ("ours", "perfect")


def test_temus_findings_in_bullet_points_name_the_bullet(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    bullets = ["Soft brushed cotton for daily wear", "Hypoallergenic dyes for sensitive skin",
               "Machine washable at 40 degrees", "Comes with a lifetime warranty"]
    review = approved(sandbox_desk, kind="bullet_points", content={"bullet_points": bullets})
    publish(sandbox_desk, [review], django_capture_on_commit_callbacks)
    assert sandbox.state.updates == []
    found = [(f["field"], f["term"]) for f in review.publish_check["marketplace"]["findings"]]
    assert found == [("bullet_points.1", "hypoallergenic"),
                     ("bullet_points.3", "lifetime warranty")]


def test_a_clean_text_passes_both_checks_and_the_check_is_recorded(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    review = approved(sandbox_desk)
    publish(sandbox_desk, [review], django_capture_on_commit_callbacks)
    assert review.status == Status.PUBLISHED
    apis = [request["api"] for request in sandbox.state.requests][-2:]
    assert apis == [CHECK, "bg.local.goods.partial.update"]
    assert review.publish_check["passed"] is True
    assert review.publish_check["content"] == review.ai_content
    event = AuditEvent.unscoped.get(action=services.ACTION_PUBLISHED)
    assert event.details["check"] == {
        "passed": True, "marketplace": "temu", "marketplace_check_offered": True,
        "marketplace_request_id": review.publish_check["marketplace"]["request_id"]}


@pytest.fixture
def aliexpress_desk(sandbox, tenant_a, owner_a, reviewer_a, operator_a) -> Desk:
    store = connect_store(sandbox, tenant_a, owner_a, shops.ALIEXPRESS_SHOP_300)
    products = [make_product(store, marketplace_id=str(
        pool.goods_id_for(shops.ALIEXPRESS_SHOP_300, index))) for index in range(3)]
    return Desk(tenant_a, owner_a, reviewer_a, operator_a, store, make_job(store, owner_a),
                products)


def test_aliexpress_applies_its_own_rules_on_the_edit_and_the_item_goes_back_to_review(
        aliexpress_desk, sandbox, django_capture_on_commit_callbacks):
    desk = aliexpress_desk
    item = make_item(desk.job, desk.products[0], content={
        "title": "Replica Vintage Pocket Watch with Chain, Roman Numerals, Gift Box"})
    with tenant_scope(desk.tenant):
        review = services.approve(review_of(item), by=desk.reviewer)
    publish(desk, [review], django_capture_on_commit_callbacks)
    assert sandbox.state.updates == []
    assert review.status == Status.PENDING
    assert review.publish_error_code == "ERR_MARKETPLACE_CONTENT_REJECTED"
    marketplace = review.publish_check["marketplace"]
    assert (marketplace["name"], marketplace["offered"]) == ("aliexpress", False)
    assert [(f["field"], f["term"], f["reason_code"]) for f in marketplace["findings"]] == [
        ("title", "replica", "COUNTERFEIT")]
    with translation.override("en"):
        [finding] = selectors.check_findings(review)
    assert (finding["marketplace"], finding["reason"]) == (
        "AliExpress", "wording that suggests a counterfeit")
