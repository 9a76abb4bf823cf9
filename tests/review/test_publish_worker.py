"""Publishing runs in a real Celery worker (embedded thread, real Redis broker, own queue): the
API's publish request commits the queued items, the worker publishes them to the sandbox. And
a real worker process killed in the middle of a batch: publishing still ends, item by item in
agreement with the marketplace."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator

import pytest

from audit.models import AuditEvent
from config.celery import app as celery_app
from generation import benchmark
from review import publishing, services
from review.models import Review
from sandbox import pool, shops
from tenants.scope import tenant_scope
from tests import celery_worker
from tests.conftest import client_for
from tests.generation.test_workers import worker_database_url
from tests.review.conftest import TITLES, make_item, make_product, review_of

Status = Review.Status

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


# A worker killed in the middle of a publish batch ------------------------------------------

KILL_DEADLINE_SECONDS = 300
LEASE_SECONDS = 3
ITEMS = 12


@pytest.fixture
def worker_queue(monkeypatch) -> Iterator[str]:
    """A queue of this test's own: the batch (sent from this process) and what housekeeping
    sends again go there, and only the test's worker processes consume it."""
    queue = f"tests-publish-kill-{uuid.uuid4().hex[:12]}"
    monkeypatch.setitem(celery_app.conf, "task_default_queue", queue)
    yield queue
    benchmark.delete_queue(queue)


def test_a_worker_killed_mid_batch_every_item_ends_and_the_sandbox_agrees(
        sandbox_desk, sandbox, worker_queue, settings, tmp_path):
    """A real worker process (celery worker, threads pool) is SIGKILLed while a content update
    it sent has landed on the marketplace and its answer is still on the way. A second worker
    and housekeeping finish the batch: every item ends published or failed with a code, the
    in-flight item is recorded as published (read from the listing, not sent again), and the
    sandbox holds exactly one update per published item and none for the others."""
    settings.PUBLISH_LEASE_SECONDS = LEASE_SECONDS
    settings.PUBLISH_DISPATCH_LEASE_SECONDS = LEASE_SECONDS
    sandbox.state.update_answer_delay_seconds = 1.0
    desk = sandbox_desk
    reviews = []
    for index in range(ITEMS):
        product = make_product(desk.store, marketplace_id=str(
            pool.goods_id_for(shops.TEMU_SHOP_300, 10 + index)))
        item = make_item(desk.job, product, content={
            "title": f"{TITLES[index % len(TITLES)]}, Pack of {index + 2}"})
        with tenant_scope(desk.tenant):
            reviews.append(services.approve(review_of(item), by=desk.reviewer))
    ids = [review.pk for review in reviews]

    env = benchmark.worker_environment(worker_queue, {
        "DATABASE_URL": worker_database_url(),
        "PUBLISH_LEASE_SECONDS": str(LEASE_SECONDS),
        "PUBLISH_DISPATCH_LEASE_SECONDS": str(LEASE_SECONDS),
        "TEMU_GATEWAY_URL": sandbox.temu_gateway_url,
        "TEMU_APP_KEY": shops.TEMU_APP_KEY, "TEMU_APP_SECRET": shops.TEMU_APP_SECRET,
    })
    env["DJANGO_SETTINGS_MODULE"] = "config.test_settings"
    log = str(tmp_path / "workers.log")
    workers = []

    def start_worker(name: str):
        process = benchmark.start_worker(worker_queue, f"{name}-{uuid.uuid4().hex[:8]}",
                                         pool="threads", concurrency=2, env=env, log_path=log)
        workers.append(process)
        return process

    def published_goods() -> set[int]:
        return {int(review.item.product.marketplace_id) for review in
                Review.unscoped.filter(pk__in=ids, status=Status.PUBLISHED)
                .select_related("item__product")}

    try:
        with celery_worker.hard_deadline(KILL_DEADLINE_SECONDS):
            first = start_worker("first")
            with tenant_scope(desk.tenant):
                queued = publishing.queue_publication(reviews, by=desk.reviewer)
            assert sorted(queued.queued) == sorted(ids) and queued.batches == 1
            deadline = time.monotonic() + 180
            while True:  # until a write has landed whose answer the worker still waits for
                landed = {int(update["goods_id"]) for update in list(sandbox.state.updates)}
                recorded = published_goods()
                if len(landed) >= 3 and landed - recorded:
                    break
                assert first.poll() is None, f"the worker died by itself: {read(log)}"
                assert time.monotonic() < deadline, f"no progress: {landed}\n{read(log)}"
                time.sleep(0.02)
            os.killpg(first.pid, signal.SIGKILL)  # the worker and its threads, mid-batch
            first.wait(timeout=30)
            in_flight = {int(u["goods_id"]) for u in list(sandbox.state.updates)} \
                - published_goods()
            assert in_flight, "the kill came after the answer: nothing was in doubt"
            stuck = Review.unscoped.filter(pk__in=ids, publish_pending=True).count()
            assert 0 < stuck < ITEMS

            start_worker("second")
            deadline = time.monotonic() + 180
            while Review.unscoped.filter(pk__in=ids, publish_pending=True).exists():
                assert time.monotonic() < deadline, f"publishing never ended\n{read(log)}"
                publishing.recover_stalled_publications()  # the housekeeping schedule
                time.sleep(0.5)
    finally:
        benchmark.stop_workers(workers)

    final = list(Review.unscoped.filter(pk__in=ids).select_related("item__product"))
    assert all(review.status in (Status.PUBLISHED, Status.PUBLISH_FAILED) for review in final)
    assert all(review.publish_error_code for review in final
               if review.status == Status.PUBLISH_FAILED)
    for review in final:  # the sandbox and the platform agree, item by item
        goods_id = int(review.item.product.marketplace_id)
        updates = sandbox.state.updates_for(goods_id)
        if review.status == Status.PUBLISHED:
            assert len(updates) == 1, f"goods {goods_id} was sent {len(updates)} times"
            shown = sandbox.state.applied_content(shops.TEMU_SHOP_300, goods_id, "en")
            assert shown["title"] == review.published_content["title"]
            assert updates[0]["ai_assisted"] is True
        else:
            assert updates == [], f"goods {goods_id} failed but reached the marketplace"
        assert not review.publish_claim and review.publish_write_sent_at is None
    assert len(sandbox.state.updates) == sum(r.status == Status.PUBLISHED for r in final)
    # The item whose answer never came is published, learnt from the listing.
    (doubted,) = [r for r in final if int(r.item.product.marketplace_id) in in_flight]
    assert doubted.status == Status.PUBLISHED
    event = AuditEvent.unscoped.filter(action=services.ACTION_PUBLISHED,
                                       target=f"item #{doubted.item_id}").get()
    assert event.details["confirmed_by_reading_listing"] is True


def read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()[-3000:]
    except OSError:
        return ""
