"""Effects fixtures: the review desk on the marketplace sandbox (tests/review/conftest.py),
publishing through the real path, and the sandbox's traffic clock put back after each test."""

from __future__ import annotations

import pytest

from review import publishing, services
from review.models import Review
from sandbox import traffic
from tenants.scope import tenant_scope
from tests.review.conftest import desk, operator_a, reviewer_a, sandbox_desk  # noqa: F401


@pytest.fixture(autouse=True)
def _sandbox_clock():
    traffic.set_offset(0)
    yield
    traffic.set_offset(0)


def publish_items(review_desk, indexes, capture) -> list[Review]:
    """Approve and publish the desk's products `indexes` (real HTTP to the sandbox)."""
    reviews = []
    for index in indexes:
        review = review_desk.review(index)
        with tenant_scope(review_desk.tenant):
            reviews.append(services.approve(review, by=review_desk.reviewer))
    with capture(execute=True), tenant_scope(review_desk.tenant):
        publishing.queue_publication(reviews, by=review_desk.reviewer)
    for review in reviews:
        review.refresh_from_db()
        assert review.status == Review.Status.PUBLISHED, review.publish_error_code
    return reviews
