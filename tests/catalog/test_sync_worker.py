"""The sync runs in a real Celery worker (embedded thread, real Redis broker, own queue): the
portal's "Sync now" commits a queued run, the worker carries it out; a retryable marketplace
error is retried with backoff and the same run continues."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection
from django.urls import reverse

from catalog.models import Product, SyncRun
from config.celery import app as celery_app
from sandbox import shops
from sandbox import state as sandbox_state
from stores.models import Store
from tests.catalog.conftest import connect_store, fail_on_goods_request
from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)

TEST_DEADLINE_SECONDS = 120
RUN_WAIT_SECONDS = 60


@contextmanager
def hard_deadline(seconds: float) -> Iterator[None]:
    def expired(signum, frame):
        raise TimeoutError(f"test exceeded its {seconds}s deadline (Celery worker stuck?)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def embedded_worker(monkeypatch) -> Iterator[object]:
    """A real worker thread on the real broker, consuming a queue of this test's own."""
    redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=3,
                         socket_timeout=3).ping()
    assert not celery_app.conf.task_always_eager, "the worker test needs a real broker"
    queue_name = f"tests-catalog-{uuid.uuid4().hex[:12]}"
    queues = celery_app.amqp.queues
    previous_selection = queues._consume_from
    monkeypatch.setitem(celery_app.conf, "task_default_queue", queue_name)
    try:
        with hard_deadline(TEST_DEADLINE_SECONDS), start_worker(
            celery_app, pool="solo", concurrency=1, perform_ping_check=False,
            shutdown_timeout=15, queues=[queue_name],
        ) as worker:
            yield worker
    finally:
        queues._consume_from = previous_selection
        with celery_app.connection_for_write() as conn:
            queue = queues.pop(queue_name).bind(conn.default_channel)
            queue.declare()
            queue.delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        assert cursor.fetchone()[0] == 0


def wait_until_finished(store: Store, timeout: float = RUN_WAIT_SECONDS) -> SyncRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = SyncRun.unscoped.filter(store=store).order_by("-started_at").first()
        if run is not None and not run.is_active:
            return run
        time.sleep(0.1)
    raise AssertionError(f"the sync run did not finish within {timeout}s: "
                         f"{list(SyncRun.unscoped.filter(store=store).values())}")


def test_sync_now_is_carried_out_by_the_worker(embedded_worker, sandbox, tenant_a, owner_a):
    store = connect_store(sandbox, tenant_a, owner_a, shops.TEMU_SHOP_300)
    client = client_for(owner_a, tenant_a)

    response = client.post(reverse("catalog_sync_now", args=[store.pk]))
    assert response.status_code == 302
    queued = SyncRun.unscoped.get(store=store)
    assert queued.requested_by == owner_a

    run = wait_until_finished(store)
    assert run.pk == queued.pk
    assert run.status == SyncRun.Status.SUCCEEDED, (run.error_code, run.error_message)
    assert (run.pages, run.created, run.unchanged) == (3, 300, 0)
    assert Product.unscoped.filter(store=store, tenant=tenant_a).count() == 300
    assert Store.unscoped.get(pk=store.pk).status == Store.Status.HEALTHY

    # The same request again: a new run, and nothing to write.
    client.post(reverse("catalog_sync_now", args=[store.pk]))
    again = wait_until_finished(store)
    assert again.pk != run.pk
    assert (again.status, again.created, again.unchanged) == (SyncRun.Status.SUCCEEDED, 0, 300)


def test_a_retryable_error_is_retried_by_the_worker(embedded_worker, sandbox, tenant_a,
                                                   owner_a, monkeypatch):
    store = connect_store(sandbox, tenant_a, owner_a, shops.TEMU_SHOP_300)
    fail_on_goods_request(sandbox, monkeypatch, sandbox_state.SERVER_ERROR, number=2)

    client_for(owner_a, tenant_a).post(reverse("catalog_sync_now", args=[store.pk]))

    run = wait_until_finished(store)
    assert run.status == SyncRun.Status.SUCCEEDED, (run.error_code, run.error_message)
    assert SyncRun.unscoped.filter(store=store).count() == 1  # the same run, continued
    assert (run.pages, run.created, run.unchanged) == (3, 300, 0)
    assert run.error_code == ""
    assert Product.unscoped.filter(store=store).count() == 300


def test_a_lasting_failure_fails_the_run_in_the_worker(embedded_worker, sandbox, tenant_a,
                                                      owner_a):
    store = connect_store(sandbox, tenant_a, owner_a, shops.TEMU_SHOP_300)
    sandbox.state.fail_next(sandbox_state.IP_NOT_WHITELISTED)

    client_for(owner_a, tenant_a).post(reverse("catalog_sync_now", args=[store.pk]))

    run = wait_until_finished(store)
    assert (run.status, run.error_code) == (SyncRun.Status.FAILED, "ERR_IP_NOT_WHITELISTED")
    assert Store.unscoped.get(pk=store.pk).status == Store.Status.IP_NOT_WHITELISTED
    assert not Product.unscoped.filter(store=store).exists()
