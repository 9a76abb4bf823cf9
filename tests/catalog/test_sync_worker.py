"""The sync runs in a real Celery worker (embedded thread, real Redis broker, own queue): the
portal's "Sync now" commits a queued run, the worker carries it out; a retryable marketplace
error is retried with backoff and the same run continues."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.urls import reverse

from catalog.models import Product, SyncRun
from sandbox import shops
from sandbox import state as sandbox_state
from stores.models import Store
from tests import celery_worker
from tests.catalog.conftest import connect_store, fail_on_goods_request
from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)

TEST_DEADLINE_SECONDS = 120
RUN_WAIT_SECONDS = 60


@pytest.fixture
def embedded_worker(monkeypatch) -> Iterator[object]:
    with celery_worker.embedded_worker(monkeypatch, name="catalog",
                                       deadline_seconds=TEST_DEADLINE_SECONDS) as worker:
        yield worker


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
