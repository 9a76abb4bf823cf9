"""Review rules: entering review, decisions, four eyes, bulk approve, the compliance re-check,
near-duplicates, audit events and notices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail

from audit.models import AuditEvent
from generation.models import BannedWord, GenerationItem, TenantBannedWord
from review import services
from review.models import (
    NearDuplicateBand,
    Review,
    ReviewDecision,
    ReviewNotice,
    ReviewSettings,
)
from review.services import ReviewError
from tenants.scope import tenant_scope
from tests.review.conftest import CONTENT, make_item, make_job, make_product, review_of

pytestmark = pytest.mark.django_db

Status = Review.Status


def events(tenant, action: str) -> list[AuditEvent]:
    return list(AuditEvent.unscoped.filter(tenant=tenant, action=action).order_by("id"))


# Entering review ------------------------------------------------------------------------------

def test_a_ready_item_enters_review_pending_once(desk):
    item = desk.item()
    review = review_of(item)
    assert review.status == Status.PENDING
    assert review.ai_content == item.content
    assert review.destination == Review.Destination.LISTING
    with tenant_scope(desk.tenant):
        again = services.enter_review(item)
    assert again.pk == review.pk
    assert Review.unscoped.filter(item=item).count() == 1
    assert len(events(desk.tenant, services.ACTION_ENTERED)) == 1


def test_scripts_and_image_descriptions_are_for_the_seller(desk):
    for index, kind in enumerate(("video_script", "livestream_script", "image_description")):
        assert desk.review(index, kind=kind).destination == Review.Destination.SELLER


def test_near_duplicates_of_another_products_text_are_flagged_both_ways(desk):
    blanket = "Soft cotton throw blanket %s 130 x 170 cm machine washable"
    first = desk.review(0, content={"title": blanket % "grey"})
    unrelated = desk.review(1)
    second = desk.review(2, content={"title": blanket % "beige"})
    first.refresh_from_db()
    unrelated.refresh_from_db()
    assert second.near_duplicate_of_id == first.item_id
    assert second.near_duplicate_similarity >= services.NEAR_DUPLICATE_THRESHOLD
    assert first.near_duplicate_of_id == second.item_id
    assert unrelated.near_duplicate_of_id is None


def test_an_exact_duplicate_is_flagged_with_similarity_one(desk):
    first = desk.review(0, kind="bullet_points")
    second = desk.review(1, kind="bullet_points")
    assert second.near_duplicate_of_id == first.item_id
    assert second.near_duplicate_similarity == Decimal(1)


def test_texts_of_other_languages_kinds_or_the_same_product_are_not_duplicates(desk):
    desk.review(0, content={"title": "Same words here for a title"})
    other_language = desk.review(1, language="de", content={"title": "Same words here for a title"})
    other_kind = desk.review(2, kind="search_terms",
                             content={"search_terms": ["Same words here for a title", "b", "c"]})
    same_product_job = make_job(desk.store, desk.owner)
    same_product = review_of(make_item(same_product_job, desk.products[0],
                                       content={"title": "Same words here for a title"}))
    assert other_language.near_duplicate_of_id is None
    assert other_kind.near_duplicate_of_id is None
    assert same_product.near_duplicate_of_id is None


# Decisions ---------------------------------------------------------------------------------

def test_reviewer_approves_and_the_decision_is_recorded(desk):
    review = desk.review()
    with tenant_scope(desk.tenant):
        review = services.approve(review, by=desk.reviewer)
    assert review.status == Status.APPROVED
    assert review.reviewer == desk.reviewer and review.decided_at is not None
    decision = ReviewDecision.unscoped.get(review=review)
    assert decision.decision == ReviewDecision.Decision.APPROVED
    [event] = events(desk.tenant, services.ACTION_APPROVED)
    assert event.actor == desk.reviewer
    assert event.target == f"item #{review.item_id}"
    assert event.details["kind"] == "title" and event.details["language"] == "en"
    assert event.details["generation"] == 1


def test_roles_without_review_permission_cannot_decide(desk):
    review = desk.review()
    with tenant_scope(desk.tenant), pytest.raises(ReviewError) as refused:
        services.approve(review, by=desk.operator)
    assert refused.value.code == "ERR_REVIEW_NOT_ALLOWED"
    with tenant_scope(desk.tenant), pytest.raises(ReviewError):
        services.reject(review, reason="no", by=desk.operator)
    review.refresh_from_db()
    assert review.status == Status.PENDING


def test_a_suspended_company_cannot_review(desk):
    review = desk.review()
    desk.tenant.status = desk.tenant.Status.SUSPENDED
    desk.tenant.save()
    review.tenant.refresh_from_db()
    with tenant_scope(desk.tenant), pytest.raises(ReviewError) as refused:
        services.approve(review, by=desk.reviewer)
    assert refused.value.code == "ERR_REVIEW_NOT_ALLOWED"


def test_four_eyes_keeps_the_job_starter_from_approving(desk):
    review = desk.review()
    with tenant_scope(desk.tenant):
        # Off by default: the owner who started the job may approve.
        services.update_settings(desk.tenant, require_four_eyes=True, by=desk.owner)
        with pytest.raises(ReviewError) as refused:
            services.approve(review, by=desk.owner)
        assert refused.value.code == "ERR_REVIEW_FOUR_EYES"
        with pytest.raises(ReviewError):
            services.edit_and_approve(review, content={"title": "A new title"}, by=desk.owner)
        services.approve(review, by=desk.reviewer)
    assert ReviewSettings.unscoped.get(tenant=desk.tenant).require_four_eyes
    assert events(desk.tenant, services.ACTION_SETTINGS)


def test_without_four_eyes_the_job_starter_may_approve(desk):
    review = desk.review()
    with tenant_scope(desk.tenant):
        assert services.approve(review, by=desk.owner).status == Status.APPROVED


def test_reject_needs_a_reason(desk):
    review = desk.review()
    with tenant_scope(desk.tenant):
        with pytest.raises(ReviewError) as refused:
            services.reject(review, reason="   ", by=desk.reviewer)
        assert refused.value.code == "ERR_REVIEW_REASON_REQUIRED"
        review = services.reject(review, reason="Wrong capacity", by=desk.reviewer)
    assert review.status == Status.REJECTED and review.reject_reason == "Wrong capacity"
    [event] = events(desk.tenant, services.ACTION_REJECTED)
    assert event.details["reason"] == "Wrong capacity"


def test_a_decided_item_cannot_be_approved_again(desk):
    review = desk.review()
    with tenant_scope(desk.tenant):
        services.reject(review, reason="Off-brand", by=desk.reviewer)
        with pytest.raises(ReviewError) as refused:
            services.approve(review, by=desk.reviewer)
        assert refused.value.code == "ERR_REVIEW_STATE"
        with pytest.raises(ReviewError):
            services.edit_and_approve(review, content={"title": "x y z"}, by=desk.reviewer)


def test_a_published_item_is_final(desk):
    review = desk.review()
    Review.unscoped.filter(pk=review.pk).update(status=Status.PUBLISHED)
    with tenant_scope(desk.tenant):
        for decide in (lambda: services.approve(review, by=desk.reviewer),
                       lambda: services.reject(review, reason="late", by=desk.reviewer),
                       lambda: services.request_regeneration(review, note="", by=desk.reviewer)):
            with pytest.raises(ReviewError) as refused:
                decide()
            assert refused.value.code == "ERR_REVIEW_STATE"


def test_an_item_being_published_cannot_be_decided(desk):
    review = desk.review()
    Review.unscoped.filter(pk=review.pk).update(status=Status.APPROVED, publish_pending=True)
    with tenant_scope(desk.tenant), pytest.raises(ReviewError) as refused:
        services.reject(review, reason="changed my mind", by=desk.reviewer)
    assert refused.value.code == "ERR_REVIEW_STATE"


def test_an_approved_item_may_still_be_rejected_before_publishing(desk):
    review = desk.review()
    with tenant_scope(desk.tenant):
        services.approve(review, by=desk.reviewer)
        assert services.reject(review, reason="Typo", by=desk.owner).status == Status.REJECTED


# Editing -----------------------------------------------------------------------------------

def test_an_edited_text_is_approved_as_edited(desk):
    review = desk.review()
    with tenant_scope(desk.tenant):
        review = services.edit_and_approve(
            review, content={"title": "  Insulated steel water bottle 750 ml  "},
            by=desk.reviewer)
    assert review.status == Status.EDITED_APPROVED
    assert review.edited_content == {"title": "Insulated steel water bottle 750 ml"}
    assert review.current_content == review.edited_content
    [event] = events(desk.tenant, services.ACTION_EDITED_APPROVED)
    assert event.details["edited_fields"] == ["title"]


def test_an_edit_that_changes_nothing_is_a_plain_approval(desk):
    review = desk.review()
    with tenant_scope(desk.tenant):
        review = services.edit_and_approve(review, content=dict(review.ai_content),
                                           by=desk.reviewer)
    assert review.status == Status.APPROVED and review.edited_content is None


def test_an_edited_text_goes_through_the_compliance_filter_again(desk):
    review = desk.review()
    BannedWord.objects.create(marketplace="temu", term="best")
    with tenant_scope(desk.tenant):
        with pytest.raises(ReviewError) as refused:
            services.edit_and_approve(review, content={"title": "The BEST bottle ever"},
                                      by=desk.reviewer)
        assert refused.value.code == "ERR_REVIEW_EDIT_REJECTED"
        assert "best" in refused.value.message.lower()
        assert "title" in refused.value.details
        # The tenant's own list counts too, and rank claims in any spelling.
        TenantBannedWord.objects.create(term="miracle")
        with pytest.raises(ReviewError):
            services.edit_and_approve(review, content={"title": "Miracles in a bottle"},
                                      by=desk.reviewer)
        BannedWord.objects.create(term="#1")
        with pytest.raises(ReviewError):
            services.edit_and_approve(review, content={"title": "No. 1 bottle"},
                                      by=desk.reviewer)
        # Length limits: Temu titles are at most 250 characters.
        with pytest.raises(ReviewError) as too_long:
            services.edit_and_approve(review, content={"title": "bottle " * 40},
                                      by=desk.reviewer)
        assert too_long.value.code == "ERR_REVIEW_EDIT_REJECTED"
    review.refresh_from_db()
    assert review.status == Status.PENDING and review.edited_content is None


def test_banned_words_of_other_marketplaces_or_languages_do_not_apply(desk):
    review = desk.review()
    BannedWord.objects.create(marketplace="aliexpress", term="bottle")
    BannedWord.objects.create(language="de", term="steel")
    with tenant_scope(desk.tenant):
        services.edit_and_approve(review, content={"title": "Steel bottle 750 ml"},
                                  by=desk.reviewer)


def test_an_edit_must_keep_the_kinds_shape(desk):
    review = desk.review(kind="bullet_points")
    with tenant_scope(desk.tenant), pytest.raises(ReviewError) as refused:
        services.edit_and_approve(review, content={"bullet_points": ["only one"]},
                                  by=desk.reviewer)
    assert refused.value.code == "ERR_REVIEW_INVALID_CONTENT"


# Regeneration ------------------------------------------------------------------------------

def test_regeneration_sends_the_item_back_with_the_note_and_it_returns_pending(desk):
    review = desk.review()
    with tenant_scope(desk.tenant):
        review = services.request_regeneration(review, note="Mention the 750 ml size first",
                                               by=desk.reviewer)
        item = GenerationItem.objects.get(pk=review.item_id)
    assert review.status == Status.REGENERATION_REQUESTED
    assert item.status == GenerationItem.Status.QUEUED
    assert item.generation == 2
    assert item.regeneration_note == "Mention the 750 ml size first"
    [event] = events(desk.tenant, services.ACTION_REGENERATION)
    assert event.details["note"] == "Mention the 750 ml size first"

    # The pipeline writes it again and hands it back.
    with tenant_scope(desk.tenant):
        GenerationItem.objects.filter(pk=item.pk).update(
            status=GenerationItem.Status.READY, content={"title": "750 ml steel bottle"})
        item.refresh_from_db()
        again = services.enter_review(item)
    assert again.pk == review.pk
    assert again.status == Status.PENDING and again.generation == 2
    assert again.ai_content == {"title": "750 ml steel bottle"}
    assert again.reviewer is None and again.regeneration_note == ""


# Bulk approve ------------------------------------------------------------------------------

def test_bulk_approve_skips_flagged_duplicate_and_decided_items_and_says_why(desk):
    clean = desk.review(0)
    flagged = desk.review(1, needs_human_check=True)
    duplicate_a = desk.review(2, kind="search_terms")
    duplicate_b = desk.review(3, kind="search_terms")
    decided = desk.review(4)
    with tenant_scope(desk.tenant):
        services.reject(decided, reason="no", by=desk.reviewer)
        result = services.bulk_approve([clean, flagged, duplicate_a, duplicate_b, decided],
                                       by=desk.reviewer)
    assert result.approved == [clean.pk]
    assert result.skipped[flagged.pk]["code"] == "ERR_REVIEW_NEEDS_CHECK"
    assert result.skipped[duplicate_a.pk]["code"] == "ERR_REVIEW_NEAR_DUPLICATE"
    assert result.skipped[duplicate_b.pk]["code"] == "ERR_REVIEW_NEAR_DUPLICATE"
    assert result.skipped[decided.pk]["code"] == "ERR_REVIEW_STATE"
    flagged.refresh_from_db()
    assert flagged.status == Status.PENDING
    [event] = events(desk.tenant, services.ACTION_APPROVED)
    assert event.details["bulk"] is True


def test_bulk_approve_respects_four_eyes(desk):
    review = desk.review()
    with tenant_scope(desk.tenant):
        services.update_settings(desk.tenant, require_four_eyes=True, by=desk.owner)
        result = services.bulk_approve([review], by=desk.owner)
    assert result.approved == []
    assert result.skipped[review.pk]["code"] == "ERR_REVIEW_FOUR_EYES"


def test_a_flagged_item_can_be_approved_on_its_own(desk):
    review = desk.review(needs_human_check=True)
    with tenant_scope(desk.tenant):
        assert services.approve(review, by=desk.reviewer).status == Status.APPROVED


# Notices -----------------------------------------------------------------------------------

def test_reviewers_are_emailed_once_when_a_jobs_items_are_ready(
        desk, django_capture_on_commit_callbacks):
    product = make_product(desk.store)
    other = make_product(desk.store)
    with django_capture_on_commit_callbacks(execute=True):
        # A second item still running: no notice yet.
        make_item(desk.job, product)
        running = make_item(desk.job, other, kind="search_terms", enter=False,
                            status=GenerationItem.Status.RUNNING)
        services.notify_reviewers_if_job_ready(desk.tenant.pk, desk.job.pk)
    assert not mail.outbox
    with django_capture_on_commit_callbacks(execute=True):
        GenerationItem.unscoped.filter(pk=running.pk).update(status=GenerationItem.Status.READY)
        running.refresh_from_db()
        with tenant_scope(desk.tenant):
            services.enter_review(running)
        services.notify_reviewers_if_job_ready(desk.tenant.pk, desk.job.pk)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == sorted([desk.owner.email, desk.reviewer.email])
    assert desk.operator.email not in message.to
    assert f"#{desk.job.pk}" in message.subject
    assert f"2 AI-generated items of job #{desk.job.pk} for" in message.body  # the English part
    assert ReviewNotice.unscoped.filter(job=desk.job).count() == 1
    with django_capture_on_commit_callbacks(execute=True), tenant_scope(desk.tenant):
        services.notify_reviewers(desk.job)
    assert len(mail.outbox) == 1


def test_content_fixture_matches_the_shapes():
    from generation.content import SHAPES

    for kind, content in CONTENT.items():
        SHAPES[kind].model_validate(content)


def test_near_duplicates_are_found_over_a_large_history_with_few_queries(
        desk, django_assert_max_num_queries):
    import random

    from generation.models import GenerationItem as Item

    words = ["steel", "glass", "bamboo", "cotton", "linen", "lamp", "bottle", "blanket",
             "board", "mug", "towel", "case", "stand", "rack", "hook", "basket", "tray", "jar"]
    pick = random.Random(5)
    first = desk.review(0, content={"title": "Handmade walnut serving tray with brass handles "
                                             "40 x 25 cm, food safe oil finish"})
    for index in range(1, 120):
        desk.review(index, content={"title": " ".join(pick.choice(words) for _ in range(12))})
    product = make_product(desk.store)
    with tenant_scope(desk.tenant):
        item = Item.objects.create(
            job=desk.job, store=desk.store, product=product, kind="title", language="en",
            status=Item.Status.READY,
            content={"title": "Handmade walnut serving tray with brass handles 45 x 30 cm, "
                              "food safe oil finish"})
        with django_assert_max_num_queries(16):
            review = services.enter_review(item)
    assert review.near_duplicate_of_id == first.item_id


def test_entering_review_in_the_pipelines_transaction_takes_five_queries(
        desk, django_assert_num_queries):
    from django.db import transaction

    from generation.models import GenerationItem as Item

    desk.review(0)
    product = make_product(desk.store)
    with tenant_scope(desk.tenant):
        created = Item.objects.create(
            job=desk.job, store=desk.store, product=product, kind="title", language="en",
            status=Item.Status.READY, content={"title": "A title of its own for this product"})
        # Loaded as the pipeline loads it: with the store and the store's tenant.
        item = Item.unscoped.select_related("job", "store__tenant", "product").get(pk=created.pk)
        # The review row (locked), the candidates, the review, its bands, the audit event.
        with transaction.atomic(), django_assert_num_queries(5):
            review = services.enter_review(item)
    assert review.status == Status.PENDING
    assert NearDuplicateBand.unscoped.filter(review=review).count() == services.BANDS
    assert events(desk.tenant, services.ACTION_ENTERED)[-1].target == f"item #{item.pk}"
