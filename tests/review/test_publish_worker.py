"""Publishing runs in a real Celery worker (embedded thread, real Redis broker, own queue): the
API's publish request commits the queued items, the worker publishes them to the sandbox."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from review.models import Review
from tests import celery_worker
from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def embedded_worker(monkeypatch) -> Iterator[object]:
    with celery_worker.embedded_worker(monkeypatch, name="review", deadline_seconds=90) as worker:
        yield worker


def wait_until_published(ids: list[int], timeout: float = 45) -> list[Review]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reviews = list(Review.unscoped.filter(pk__in=ids).order_by("id"))
        if not any(review.publish_pending for review in reviews):
            return reviews
        time.sleep(0.1)
    raise AssertionError(f"still publishing after {timeout}s")


def test_the_worker_publishes_approved_items_with_the_flag(embedded_worker, sandbox_desk,
                                                           sandbox):
    client = client_for(sandbox_desk.reviewer, sandbox_desk.tenant)
    reviews = [sandbox_desk.review(index) for index in range(3)]
    ids = [review.pk for review in reviews]
    approved = client.post("/api/v1/reviews/bulk-approve/", {"ids": ids},
                           content_type="application/json")
    assert approved.json()["done"] == ids
    answer = client.post("/api/v1/reviews/publish/", {"ids": ids},
                         content_type="application/json")
    assert answer.status_code == 202

    published = wait_until_published(ids)
    assert [review.status for review in published] == [Review.Status.PUBLISHED] * 3
    assert len(sandbox.state.updates) == 3
    assert all(update["ai_assisted"] is True for update in sandbox.state.updates)
    assert {update["title"] for update in sandbox.state.updates} == {
        review.ai_content["title"] for review in published}
