"""Catalog sync against the marketplace sandbox over real HTTP, into PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import quality, services
from catalog.models import Product, QualityFlag, SyncRun
from marketplaces.connectors import MarketplaceError
from sandbox import pool, shops
from sandbox import state as sandbox_state
from stores import services as store_services
from stores.models import Store, StoreStatusChange
from tenants.scope import tenant_scope
from tests.catalog.conftest import connect_store, fail_on_goods_request, products_of, sync

SHOP_300 = shops.SHOPS[shops.TEMU_SHOP_300]


def expected_flags(item: pool.Product) -> set[str]:
    """What the sandbox says it broke in a product (its own bookkeeping, not our rules)."""
    return {flaw for flaw in item.flaws if flaw in QualityFlag.values}


# A full sync -------------------------------------------------------------------------------

def test_full_sync_creates_every_product_with_its_quality_flags(store_300, sandbox):
    run = sync(store_300)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.pages, run.total_reported) == (3, 300)
    assert (run.created, run.updated, run.unchanged, run.over_limit) == (300, 0, 0, 0)
    assert run.error_code == "" and run.finished_at is not None
    assert run.sku_limit == 5000

    products = {p.marketplace_id: p for p in products_of(store_300)}
    assert len(products) == 300
    pool_items = [pool.product(SHOP_300.shop_id, SHOP_300.seed, i) for i in range(300)]
    assert set(products) == {str(item.goods_id) for item in pool_items}
    for item in pool_items:
        product = products[str(item.goods_id)]
        assert product.tenant_id == store_300.tenant_id
        assert (product.sku, product.category) == (item.sku, item.category)
        assert product.price == Decimal(item.price) and product.currency == "USD"
        assert product.main_image_width == item.images[0].width
        assert len(product.images) == len(item.images)
        flags = set(product.quality_flags)
        # Every flaw the sandbox planted is found...
        assert expected_flags(item) <= flags, (item.title, item.flaws, flags)
        # ...and a product the sandbox left alone is clean (a typo may hide an attribute word).
        if not item.flaws - {pool.BANNED_WORD}:
            assert flags == set(), (item.title, flags)
        if QualityFlag.FEW_ATTRIBUTE_WORDS in flags - expected_flags(item):
            assert pool.TYPO in item.flaws
    # The pool's flaw rates show up (a sanity check that the flags are not all empty).
    for flag in (QualityFlag.FEW_ATTRIBUTE_WORDS, QualityFlag.INCOMPLETE_PARAMETERS,
                 QualityFlag.LOW_RESOLUTION_IMAGE, QualityFlag.WATERMARKED_IMAGE):
        assert any(flag in p.quality_flags for p in products.values()), flag


def test_a_successful_sync_makes_the_store_healthy(store_300, sandbox):
    sync(store_300)
    store = Store.unscoped.get(pk=store_300.pk)
    assert store.status == Store.Status.HEALTHY
    assert store.last_synced_at is not None
    history = list(StoreStatusChange.unscoped.filter(store=store).order_by("changed_at", "id")
                   .values_list("to_status", flat=True))
    assert history[-2:] == [Store.Status.SYNCING, Store.Status.HEALTHY]


def test_pages_are_upserted_set_based_not_one_query_per_product(store_300, sandbox):
    with CaptureQueriesContext(connection) as queries:
        sync(store_300)
    writes = [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "catalog_product"')]
    assert len(writes) == 3  # one per page of 100
    assert all("ON CONFLICT" in sql for sql in writes)
    assert len(queries) < 80, len(queries)


# Re-syncs ----------------------------------------------------------------------------------

def test_resync_of_an_unchanged_store_writes_nothing(synced_300, sandbox):
    before = {p.pk: (p.content_hash, p.last_synced_at) for p in products_of(synced_300)}
    with CaptureQueriesContext(connection) as queries:
        run = sync(synced_300)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.created, run.updated, run.unchanged) == (0, 0, 300)
    assert not [q for q in queries if 'INTO "catalog_product"' in q["sql"]
                or q["sql"].startswith('UPDATE "catalog_product"')]
    assert {p.pk: (p.content_hash, p.last_synced_at) for p in products_of(synced_300)} == before
    assert SyncRun.unscoped.filter(store=synced_300).count() == 2


def test_a_product_changed_upstream_is_updated(synced_300, sandbox):
    item = pool.product(SHOP_300.shop_id, SHOP_300.seed, 42)
    product = Product.unscoped.get(store=synced_300, marketplace_id=str(item.goods_id))
    first_synced = product.first_synced_at
    # The seller edits the listing on the marketplace: a short title with one attribute word.
    new_title = f"{item.attributes['Color']} Gift"
    sandbox.state.record_update({"shop_id": SHOP_300.shop_id, "goods_id": item.goods_id,
                                 "language": "en", "title": new_title})

    run = sync(synced_300)

    assert (run.created, run.updated, run.unchanged) == (0, 1, 299)
    product.refresh_from_db()
    assert product.title == new_title
    assert QualityFlag.FEW_ATTRIBUTE_WORDS in product.quality_flags
    assert product.attribute_word_count == 1
    assert product.first_synced_at == first_synced
    assert product.last_synced_at > first_synced
    assert Product.unscoped.filter(store=synced_300).count() == 300


def test_a_store_whose_rules_changed_is_reassessed(synced_300, sandbox, monkeypatch):
    monkeypatch.setattr(quality, "QUALITY_RULES_VERSION", quality.QUALITY_RULES_VERSION + 1)
    run = sync(synced_300)
    assert (run.created, run.updated, run.unchanged) == (0, 300, 0)


def test_the_same_shop_in_two_tenants_is_two_catalogs(synced_300, sandbox, tenant_b, owner_b):
    other = connect_store(sandbox, tenant_b, owner_b, shops.TEMU_SHOP_300)
    run = sync(other)
    assert run.created == 300
    assert Product.unscoped.filter(tenant=tenant_b).count() == 300
    assert Product.unscoped.filter(tenant=synced_300.tenant).count() == 300


# The SKU limit -----------------------------------------------------------------------------

def test_skus_over_the_pack_limit_are_reported_not_dropped_silently(store_over_limit, sandbox):
    run = sync(store_over_limit)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.total_reported == 5200
    assert run.created == 5000 and run.sku_limit == 5000
    assert run.over_limit == 200
    assert run.error_code == "ERR_SKU_LIMIT"
    assert "200" in run.error_message
    assert run.pages == 50  # the pages beyond the limit are not fetched (daily request budget)
    assert Product.unscoped.filter(store=store_over_limit).count() == 5000


def test_a_store_without_a_pack_is_limited_by_the_setting(store_300, sandbox, settings):
    settings.SKU_LIMIT_PER_STORE = 250
    run = sync(store_300)
    assert (run.created, run.over_limit, run.sku_limit, run.error_code) == (
        250, 50, 250, "ERR_SKU_LIMIT")
    assert Product.unscoped.filter(store=store_300).count() == 250


def test_the_packs_sku_limit_is_the_one_that_counts(store_300, sandbox, settings):
    """The priced limit is the pack version's, not a global setting (issue 12)."""
    from dataclasses import replace

    from billing import services as billing

    settings.SKU_LIMIT_PER_STORE = 5000
    pack = billing.create_pack(code="small-catalog", name="Small catalogue", by=None,
                               terms=replace(billing.STANDARD_TERMS, sku_limit=120))
    billing.subscribe_store(store_300, pack, by=None)
    run = sync(store_300)
    assert (run.created, run.over_limit, run.sku_limit, run.error_code) == (
        120, 180, 120, "ERR_SKU_LIMIT")
    assert Product.unscoped.filter(store=store_300).count() == 120


# Failures in the middle of a sync ------------------------------------------------------------

FAILURES = [
    (sandbox_state.HTML, "ERR_MARKETPLACE_UNAVAILABLE", Store.Status.ERROR),
    (sandbox_state.MALFORMED_JSON, "ERR_MARKETPLACE_UNAVAILABLE", Store.Status.ERROR),
    (sandbox_state.SLOW, "ERR_MARKETPLACE_UNAVAILABLE", Store.Status.ERROR),
    (sandbox_state.TOKEN_EXPIRED, "ERR_TOKEN_EXPIRED", Store.Status.TOKEN_EXPIRED),
    (sandbox_state.IP_NOT_WHITELISTED, "ERR_IP_NOT_WHITELISTED",
     Store.Status.IP_NOT_WHITELISTED),
]


@pytest.mark.parametrize(("kind", "code", "store_status"), FAILURES,
                         ids=[kind for kind, _c, _s in FAILURES])
def test_a_failure_mid_sync_fails_the_run_and_a_rerun_completes(
        store_300, sandbox, monkeypatch, settings, kind, code, store_status):
    settings.MARKETPLACE_TIMEOUT_SECONDS = 1.0
    sandbox.state.slow_seconds = 2.5
    fail_on_goods_request(sandbox, monkeypatch, kind, number=2)  # page 2 of 3 fails

    failed = sync(store_300)

    assert failed.status == SyncRun.Status.FAILED
    assert failed.error_code == code
    assert failed.finished_at is not None
    assert (failed.pages, failed.created) == (1, 100)  # page 1 is kept, whole
    assert Product.unscoped.filter(store=store_300).count() == 100
    store = Store.unscoped.get(pk=store_300.pk)
    assert store.status == store_status
    assert store.last_error_code == code

    if code == "ERR_TOKEN_EXPIRED":
        # The marketplace's word ends the token: no sync with it until re-authorized.
        assert store.token_expires_at <= timezone.now()
        refused = sync(store)
        assert (refused.status, refused.error_code) == (SyncRun.Status.FAILED, code)
        with tenant_scope(store.tenant):
            store_services.reauthorize_store(
                store, by=store.created_by,
                authorization_code=sandbox.state.issue_code(shops.TEMU_SHOP_300))
        store = Store.unscoped.get(pk=store_300.pk)

    rerun = sync(store)

    assert rerun.pk != failed.pk
    assert rerun.status == SyncRun.Status.SUCCEEDED
    assert (rerun.created, rerun.updated, rerun.unchanged) == (200, 0, 100)
    assert Product.unscoped.filter(store=store_300).count() == 300  # no duplicates
    assert Store.unscoped.get(pk=store_300.pk).status == Store.Status.HEALTHY


def test_a_failure_on_the_first_page_writes_nothing(store_300, sandbox):
    sandbox.state.fail_next(sandbox_state.PERMISSION_DENIED)
    run = sync(store_300)
    assert (run.status, run.error_code, run.pages) == (SyncRun.Status.FAILED, "ERR_TEMU_403", 0)
    assert not Product.unscoped.filter(store=store_300).exists()
    assert Store.unscoped.get(pk=store_300.pk).status == Store.Status.PERMISSION_DENIED


def test_a_retryable_error_puts_the_run_back_and_the_retry_continues(store_300, sandbox,
                                                                      monkeypatch):
    fail_on_goods_request(sandbox, monkeypatch, sandbox_state.HTML, number=3)
    with pytest.raises(MarketplaceError) as raised:
        sync(store_300, retry_allowed=True)
    assert raised.value.retryable

    run = SyncRun.unscoped.get(store=store_300)
    assert (run.status, run.pages, run.error_code) == (SyncRun.Status.QUEUED, 2,
                                                       "ERR_MARKETPLACE_UNAVAILABLE")
    requests_before = len(sandbox.state.requests)

    retried = sync(store_300, run=run, retry_allowed=True)

    assert retried.pk == run.pk and retried.status == SyncRun.Status.SUCCEEDED
    assert (retried.pages, retried.created, retried.unchanged) == (3, 300, 0)
    assert retried.error_code == ""
    assert len(sandbox.state.requests) - requests_before == 1  # only page 3 again
    assert Product.unscoped.filter(store=store_300).count() == 300


def test_a_store_whose_token_expired_fails_at_once(store_300, sandbox):
    Store.unscoped.filter(pk=store_300.pk).update(
        token_expires_at=timezone.now() - timedelta(minutes=1))
    store = Store.unscoped.get(pk=store_300.pk)
    requests_before = len(sandbox.state.requests)
    run = sync(store)
    assert (run.status, run.error_code) == (SyncRun.Status.FAILED, "ERR_TOKEN_EXPIRED")
    assert len(sandbox.state.requests) == requests_before
    assert Store.unscoped.get(pk=store.pk).status == Store.Status.TOKEN_EXPIRED


# One sync per store ------------------------------------------------------------------------

def test_a_second_request_reports_the_queued_run(store_300, owner_a, sandbox):
    with tenant_scope(store_300.tenant):
        first = services.request_sync(store_300, by=owner_a)
        second = services.request_sync(store_300, by=owner_a)
    assert first.started and not second.started
    assert second.run.pk == first.run.pk
    assert first.run.status == SyncRun.Status.QUEUED
    assert SyncRun.unscoped.filter(store=store_300).count() == 1


def test_sync_store_does_not_run_a_store_that_is_running_elsewhere(store_300, sandbox):
    with tenant_scope(store_300.tenant):
        running = SyncRun.objects.create(store=store_300, status=SyncRun.Status.RUNNING,
                                         heartbeat_at=timezone.now(), sku_limit=5000)
    requests_before = len(sandbox.state.requests)
    run = sync(store_300)
    assert run.pk == running.pk and run.status == SyncRun.Status.RUNNING
    assert len(sandbox.state.requests) == requests_before
    assert not Product.unscoped.filter(store=store_300).exists()


def test_an_interrupted_run_is_taken_over(store_300, sandbox, settings):
    long_ago = timezone.now() - services.RUNNING_STALE_AFTER - timedelta(minutes=1)
    with tenant_scope(store_300.tenant):
        stuck = SyncRun.objects.create(store=store_300, status=SyncRun.Status.RUNNING,
                                       heartbeat_at=long_ago, sku_limit=5000)
        SyncRun.objects.filter(pk=stuck.pk).update(started_at=long_ago)
    run = sync(store_300)
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 300


def test_the_database_refuses_a_second_active_run(store_300, sandbox):
    from django.db import IntegrityError, transaction

    with tenant_scope(store_300.tenant):
        SyncRun.objects.create(store=store_300, status=SyncRun.Status.RUNNING)
        with pytest.raises(IntegrityError), transaction.atomic():
            SyncRun.objects.create(store=store_300, status=SyncRun.Status.QUEUED)


def test_a_store_without_authorization_cannot_be_synced(store_300, owner_a):
    Store.unscoped.filter(pk=store_300.pk).update(status=Store.Status.REVOKED, access_token="")
    store = Store.unscoped.get(pk=store_300.pk)
    with tenant_scope(store.tenant), pytest.raises(services.SyncNotPossible):
        services.request_sync(store, by=owner_a)
    assert not SyncRun.unscoped.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_syncs_of_one_store_do_not_double_run(sandbox, tenant_a, owner_a):
    store = connect_store(sandbox, tenant_a, owner_a, shops.TEMU_SHOP_300)
    barrier = threading.Barrier(4)
    results: list[SyncRun] = []
    errors: list[BaseException] = []

    def contender():
        try:
            with tenant_scope(tenant_a):
                barrier.wait(timeout=10)
                results.append(services.sync_store(store))
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=contender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(results) == 4
    runs = list(SyncRun.unscoped.filter(store=store))
    assert len(runs) == 1, [(r.pk, r.status) for r in runs]
    assert {r.pk for r in results} == {runs[0].pk}
    assert runs[0].status == SyncRun.Status.SUCCEEDED
    assert (runs[0].pages, runs[0].created, runs[0].unchanged) == (3, 300, 0)
    goods_requests = [r for r in sandbox.state.requests if r["api"] == "bg.local.goods.list.query"]
    assert len(goods_requests) == 3
    assert Product.unscoped.filter(store=store).count() == 300


@pytest.mark.django_db(transaction=True)
def test_concurrent_sync_requests_queue_one_run(sandbox, tenant_a, owner_a):
    store = connect_store(sandbox, tenant_a, owner_a, shops.TEMU_SHOP_300)
    barrier = threading.Barrier(4)
    results: list[services.SyncRequest] = []
    errors: list[BaseException] = []

    def contender():
        try:
            with tenant_scope(tenant_a):
                barrier.wait(timeout=10)
                # As a request does: the lock is held until the transaction commits.
                from django.db import transaction
                with transaction.atomic():
                    results.append(services.request_sync(store, by=owner_a))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=contender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(r.started for r in results) == [False, False, False, True]
    assert len({r.run.pk for r in results}) == 1
    assert SyncRun.unscoped.filter(store=store).count() == 1
