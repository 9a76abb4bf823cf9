"""Queue order and counts, and the measures: AI share, reviewer throughput, approval rate per
instruction-set version."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from generation.models import GenerationItem, InstructionSet, InstructionVersion
from review import selectors, services
from review.models import Review, ReviewDecision
from tenants.scope import tenant_scope

pytestmark = pytest.mark.django_db

Status = Review.Status


def test_queue_puts_compliance_flagged_then_near_duplicates_first(desk):
    plain = desk.review(0)
    duplicate_a = desk.review(1, kind="search_terms")
    duplicate_b = desk.review(2, kind="search_terms")
    flagged = desk.review(3, needs_human_check=True)
    with tenant_scope(desk.tenant):
        order = [r.pk for r in selectors.review_queue()]
        assert order == [flagged.pk, duplicate_a.pk, duplicate_b.pk, plain.pk]
        assert [r.pk for r in selectors.review_queue(flag="near_duplicate")] == [
            duplicate_a.pk, duplicate_b.pk]
        assert [r.pk for r in selectors.review_queue(flag="flagged")] == [
            flagged.pk, duplicate_a.pk, duplicate_b.pk]
        assert selectors.waiting_for_review_count() == 4
        counts = selectors.queue_counts()
    assert counts["pending"] == 4 and counts["compliance_flagged"] == 1
    assert counts["near_duplicates"] == 2


def test_the_queue_is_the_tenants_own(desk, tenant_b):
    desk.review()
    with tenant_scope(tenant_b):
        assert list(selectors.review_queue()) == []
        assert selectors.waiting_for_review_count() == 0


def test_ai_share_per_store_and_tenant(desk):
    reviews = [desk.review(i) for i in range(3)]
    for review, share in zip(reviews, ("1", "0.5", None), strict=True):
        Review.unscoped.filter(pk=review.pk).update(
            status=Status.PUBLISHED if share else Status.APPROVED,
            ai_share=Decimal(share) if share else None)
    with tenant_scope(desk.tenant):
        assert selectors.ai_share_for_tenant() == Decimal("0.75")
        per_store = selectors.ai_share_by_store()
    assert per_store[desk.store.pk]["ai_share"] == Decimal("0.75")
    assert per_store[desk.store.pk]["published"] == 2


def test_reviewer_throughput_counts_decisions_per_active_hour(desk):
    reviews = [desk.review(i) for i in range(5)]
    with tenant_scope(desk.tenant):
        for review in reviews[:3]:
            services.approve(review, by=desk.reviewer)
        services.reject(reviews[3], reason="no", by=desk.owner)
    # The reviewer worked in two different clock hours, the owner in one.
    hour = timezone.now().replace(minute=30, second=0, microsecond=0) - timedelta(hours=1)
    mine = list(ReviewDecision.unscoped.filter(by=desk.reviewer).order_by("id"))
    for decision, at in zip(mine, (hour - timedelta(hours=2), hour, hour + timedelta(minutes=5)),
                            strict=True):
        ReviewDecision.unscoped.filter(pk=decision.pk).update(decided_at=at)
    ReviewDecision.unscoped.filter(by=desk.owner).update(decided_at=hour)
    with tenant_scope(desk.tenant):
        rows = {row.email: row for row in selectors.reviewer_throughput()}
    assert rows[desk.reviewer.email].decisions == 3
    assert rows[desk.reviewer.email].active_hours == 2
    assert rows[desk.reviewer.email].items_per_hour == Decimal("1.50")
    assert rows[desk.owner.email].items_per_hour == Decimal("1.00")


def test_approval_rate_per_instruction_version(desk, tenant_b, owner_b):
    instructions = InstructionSet.objects.create(kind="title", marketplace="temu",
                                                 name="Temu titles")
    v1 = InstructionVersion.objects.create(instruction_set=instructions, number=1, text="v1")
    v2 = InstructionVersion.objects.create(instruction_set=instructions, number=2, text="v2")
    reviews = [desk.review(i) for i in range(4)]
    for review, version in zip(reviews, (v1, v1, v2, v2), strict=True):
        GenerationItem.unscoped.filter(pk=review.item_id).update(instruction_version=version)
    with tenant_scope(desk.tenant):
        services.approve(reviews[0], by=desk.reviewer)
        services.reject(reviews[1], reason="dull", by=desk.reviewer)
        services.approve(reviews[2], by=desk.reviewer)
        services.edit_and_approve(reviews[3], content={"title": "Edited title here"},
                                  by=desk.reviewer)
        rates = {row.instruction_version_id: row
                 for row in selectors.approval_rate_by_instruction_version()}
    assert rates[v1.pk].rate == Decimal("0.5") and rates[v1.pk].label == "Temu titles v1"
    assert rates[v2.pk].rate == Decimal(1) and rates[v2.pk].edited == 1
    with tenant_scope(tenant_b):
        assert selectors.approval_rate_by_instruction_version() == []
    across = selectors.approval_rate_by_instruction_version(all_tenants=True)
    assert sum(row.decided for row in across) == 4
