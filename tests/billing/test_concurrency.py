"""Many workers on the same store's quota at once: real threads, each with its own
PostgreSQL connection, committing for real (transactional tests)."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from billing import quota, services
from billing.benchmark import benchmark
from billing.models import DailyUsage, Reservation, UsageEvent
from tests.billing.conftest import make_store
from tests.conftest import add_member, create_tenant

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 16


def run_in_threads(work, workers: int = WORKERS) -> list:
    """Start `workers` threads together; each calls work(n) and reports what it returned."""
    start = threading.Barrier(workers)
    results: list = [None] * workers
    errors: list[BaseException] = []

    def main(n: int) -> None:
        try:
            start.wait()
            results[n] = work(n)
        except BaseException as error:  # noqa: BLE001 (re-raised in the test)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=main, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def small_pack_store():
    """A store whose pack includes 50 calls a day, with an overage cap of 10."""
    tenant = create_tenant("Concurrent Trading")
    owner = add_member(tenant)
    terms = services.PackTerms(**{**services.STANDARD_TERMS.__dict__,
                                  "included_calls_per_day": 50})
    pack = services.create_pack(code="small", name="Small", terms=terms, by=None)
    store = make_store(tenant, owner, "Busy shop")
    services.subscribe_store(store, pack, by=None, daily_overage_cap=10)
    return store


def test_exactly_included_plus_cap_calls_succeed(small_pack_store):
    store = small_pack_store

    def work(n: int) -> Counter:
        outcome = Counter()
        for i in range(12):  # 16 x 12 = 192 attempts for 60 places
            key = f"w{n}-{i}"
            try:
                quota.reserve_call(store, key)
            except quota.QuotaExceeded:
                outcome["refused"] += 1
                continue
            outcome[quota.settle_call(key).kind] += 1
        return outcome

    total = sum(run_in_threads(work), Counter())
    assert total == Counter(included=50, overage=10, refused=132)
    row = DailyUsage.unscoped.get(store=store)
    assert (row.included_used, row.overage_used, row.reserved) == (50, 10, 0)
    events = UsageEvent.unscoped.filter(store=store)
    assert events.filter(kind="included").count() == 50
    assert events.filter(kind="overage").count() == 10
    assert events.aggregate(total=Sum("unit_price"))["total"] == Decimal("8.00")
    assert Reservation.unscoped.filter(store=store).count() == 60


def test_no_lost_or_double_counts_with_settles_and_releases(small_pack_store):
    store = small_pack_store
    services.set_daily_overage_cap(store, None, by=None)  # no cap: nothing refused

    def work(n: int) -> Counter:
        outcome = Counter()
        for i in range(20):
            key = f"mix{n}-{i}"
            quota.reserve_call(store, key)
            quota.reserve_call(store, key)  # a retried task: must not count twice
            if i % 4 == 0:
                quota.release_call(key)
                outcome["released"] += 1
            else:
                quota.settle_call(key)
                quota.settle_call(key)  # retried: charged once
                outcome["settled"] += 1
        return outcome

    total = sum(run_in_threads(work), Counter())
    assert total == Counter(settled=240, released=80)
    row = DailyUsage.unscoped.get(store=store)
    assert (row.included_used, row.overage_used, row.reserved) == (50, 190, 0)
    assert UsageEvent.unscoped.filter(store=store).count() == 240
    assert Reservation.unscoped.filter(store=store, state="released").count() == 80


def test_the_same_item_raced_by_every_worker_is_charged_once(small_pack_store):
    store = small_pack_store

    def work(n: int) -> int:
        quota.reserve_call(store, "one-item")
        return quota.settle_call("one-item").pk

    assert len(set(run_in_threads(work))) == 1
    row = DailyUsage.unscoped.get(store=store)
    assert (row.included_used, row.overage_used, row.reserved) == (1, 0, 0)
    assert UsageEvent.unscoped.count() == 1


@pytest.mark.parametrize("processes", [True, False], ids=["processes", "threads"])
def test_the_benchmark_finds_zero_discrepancy_and_cleans_up(processes):
    report = benchmark(reservations=1200, workers=8, store_count=2, capped_calls=550,
                       processes=processes)
    assert report.discrepancies == []
    assert report.outcome.reserved + report.outcome.refused == 1200
    assert report.outcome.refused > 0  # the capped store really refused calls
    assert report.reservations_per_second > 0
    assert not UsageEvent.unscoped.exists() and not DailyUsage.unscoped.exists()
    assert not Reservation.unscoped.exists()


def test_single_statement_steps_in_autocommit_keep_every_rule(small_pack_store):
    """Outside a transaction each step is one prepared statement that sets its own
    (transaction-local) synchronous_commit: the idempotent retries, a retry after a release,
    a cap change between two calls and the session's own synchronous_commit must all come
    out as in the stepwise path."""
    store = small_pack_store
    assert not connection.in_atomic_block
    first = quota.reserve_call(store, "auto")
    assert quota.reserve_call(store, "auto").pk == first.pk  # open: not counted again
    event = quota.settle_call("auto")
    assert quota.settle_call("auto").pk == event.pk  # charged once
    assert quota.reserve_call(store, "auto").state == Reservation.State.SETTLED
    quota.reserve_call(store, "flaky")
    assert quota.release_call("flaky") is True
    assert quota.release_call("flaky") is False
    assert quota.reserve_call(store, "flaky").state == Reservation.State.RESERVED  # afresh
    assert quota.settle_call("flaky").kind == "included"
    row = DailyUsage.unscoped.get(store=store)
    assert (row.included_used, row.overage_used, row.reserved) == (2, 0, 0)
    with connection.cursor() as cursor:  # the setting ended with the step's transaction
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    services.set_daily_overage_cap(store, 0, by=None)  # the terms are read on every call
    for n in range(48):
        quota.reserve_call(store, f"fill-{n}")
    with pytest.raises(quota.QuotaExceeded):
        quota.reserve_call(store, "one-too-many")
    assert DailyUsage.unscoped.get(store=store).reserved == 48


def test_single_statement_steps_are_prepared_and_commit_asynchronously(small_pack_store,
                                                                      settings):
    store = small_pack_store
    for n in range(3):
        quota.reserve_call(store, f"prepared-{n}")
        if n:
            quota.settle_call(f"prepared-{n}")
        else:
            quota.release_call(f"prepared-{n}")
    with connection.cursor() as cursor:  # the session keeps each step parsed, once
        cursor.execute("SELECT statement FROM pg_prepared_statements "
                       "WHERE statement LIKE '%%set_config(''synchronous_commit''%%'")
        prepared = [row[0] for row in cursor.fetchall()]
    assert len(prepared) == 3  # reserve, settle, release
    # The statement's own setting: off for its transaction only, untouched when it is off.
    probe = f"WITH {quota.ASYNC_CTE} SELECT current_setting('synchronous_commit') FROM async"
    for asynchronous, expected in ((True, "off"), (False, "on")):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(probe, {"async": asynchronous})
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == expected
    settings.QUOTA_SYNCHRONOUS_COMMIT = True
    quota.reserve_call(store, "synchronous")
    assert quota.settle_call("synchronous").kind == "included"
    original_threshold = connection.connection.prepare_threshold
    connection.connection.prepare_threshold = None  # DATABASE_PREPARED_STATEMENTS off
    try:
        quota.reserve_call(store, "unprepared")
        assert quota.settle_call("unprepared").kind == "included"
    finally:
        connection.connection.prepare_threshold = original_threshold


def test_retries_after_a_release_raced_by_every_worker_count_once(small_pack_store):
    store = small_pack_store
    quota.reserve_call(store, "released-item")
    quota.release_call("released-item")

    def work(n: int) -> int:
        return quota.reserve_call(store, "released-item").pk

    assert len(set(run_in_threads(work))) == 1
    row = DailyUsage.unscoped.get(store=store)
    assert (row.included_used, row.overage_used, row.reserved) == (0, 0, 1)
    assert quota.settle_call("released-item").kind == "included"
