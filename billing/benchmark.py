"""The quota benchmark: many concurrent workers reserve, settle and release calls on a few
stores; afterwards the counters must agree with the ledger exactly. Used by
`manage.py benchmark_quota`; everything it creates is removed again."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import close_old_connections, connection, connections, transaction
from django.db.models import Count, Q, Sum

from billing import quota, services
from billing.models import (
    DailyUsage,
    QuotaPack,
    QuotaPackVersion,
    Reservation,
    StoreSubscription,
    UsageEvent,
)
from stores.models import Store
from tenants.models import Tenant, User

SITES = ["temu-us", "temu-de", "aliexpress-es", "temu-uk", "aliexpress-fr", "temu-au"]
RELEASE_EVERY = 10  # every tenth successful reservation fails and is released


@dataclass
class Outcome:
    reserved: int = 0
    settled: int = 0
    released: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        self.reserved += other.reserved
        self.settled += other.settled
        self.released += other.released
        self.refused += other.refused
        self.errors += other.errors


@dataclass
class Report:
    reservations: int
    workers: int
    stores: int
    seconds: float
    outcome: Outcome
    discrepancies: list[str]
    per_store: list[str]

    @property
    def reservations_per_second(self) -> float:
        return self.reservations / self.seconds if self.seconds else 0.0

    @property
    def operations_per_second(self) -> float:
        done = self.outcome.reserved + self.outcome.settled + self.outcome.released
        return (done + self.outcome.refused) / self.seconds if self.seconds else 0.0


@dataclass
class Fixture:
    run: str
    tenant: Tenant
    user: User
    pack: QuotaPack
    stores: list[Store]
    capped_store: Store
    cap: int


def set_up(run: str, store_count: int, capped_calls: int) -> Fixture:
    """A tenant with `store_count` stores on a fresh pack (500 included, CNY 0.80 overage);
    the last store has an overage cap, so some calls are refused there."""
    user = User.objects.create_user(email=f"benchmark-{run}@benchmark.invalid")
    tenant = Tenant.objects.create(name=f"Quota benchmark {run}", slug=f"qbench-{run}",
                                   status=Tenant.Status.ACTIVE)
    pack = services.create_pack(code=f"qbench-{run}", name=f"Benchmark {run}",
                                terms=services.STANDARD_TERMS, by=None)
    stores = []
    for index in range(store_count):
        store = Store.unscoped.create(
            tenant=tenant, site_code=SITES[index % len(SITES)], created_by=user,
            display_name=f"Benchmark store {index + 1}", shop_id=f"{run}-{index}")
        stores.append(store)
    cap = max(0, capped_calls - services.STANDARD_TERMS.included_calls_per_day)
    for store in stores:
        services.subscribe_store(store, pack, by=None,
                                 daily_overage_cap=cap if store is stores[-1] else None)
    for store in stores:
        store.tenant = tenant  # one tenant object: no look-up per call
    return Fixture(run, tenant, user, pack, stores, stores[-1], cap)


def _work(fixture: Fixture, indices: range, outcome: Outcome, start) -> Outcome:
    stores = fixture.stores
    try:
        connection.ensure_connection()
        start.wait()
        for index in indices:
            store = stores[index % len(stores)]
            key = f"qbench:{fixture.run}:{index}"
            try:
                quota.reserve_call(store, key)
            except quota.QuotaExceeded:
                outcome.refused += 1
                continue
            outcome.reserved += 1
            if index % RELEASE_EVERY == 0:
                quota.release_call(key)
                outcome.released += 1
            else:
                quota.settle_call(key)
                outcome.settled += 1
    except Exception as error:  # reported, and makes the run fail
        outcome.errors.append(f"{type(error).__name__}: {error}")
        start.abort()
    finally:
        connection.close()
    return outcome


def _process_main(fixture: Fixture, indices: range, start, results) -> None:
    # The child has forgotten the parent's connections (config.database) and opens its own.
    results.put(_work(fixture, indices, Outcome(), start))


def run_workers(fixture: Fixture, reservations: int, workers: int,
                processes: bool = True) -> tuple[Outcome, float]:
    """`workers` threads or (forked) processes, each with its own database connection;
    returns the summed outcome and the wall-clock seconds from the common start."""
    shares = [range(w, reservations, workers) for w in range(workers)]
    total = Outcome()
    connections.close_all()  # with a pool: the workers may need every connection of it
    if processes:
        context = multiprocessing.get_context("fork")
        start, results = context.Barrier(workers + 1), context.Queue()
        children = [context.Process(target=_process_main, args=(fixture, share, start, results))
                    for share in shares]
        for child in children:
            child.start()
        start.wait()
        began = time.perf_counter()
        for _child in children:
            total.add(results.get())
        seconds = time.perf_counter() - began
        for child in children:
            child.join()
        return total, seconds
    outcomes = [Outcome() for _ in range(workers)]
    start = threading.Barrier(workers + 1)
    threads = [threading.Thread(target=_work, args=(fixture, share, outcome, start))
               for share, outcome in zip(shares, outcomes, strict=True)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    for outcome in outcomes:
        total.add(outcome)
    return total, seconds


def verify(fixture: Fixture, outcome: Outcome, reservations: int) -> tuple[list[str], list[str]]:
    """Every way the counters could disagree with the ledger, the reservations or the workers'
    own tally. An empty list: zero discrepancy."""
    problems: list[str] = list(outcome.errors)
    lines: list[str] = []
    tenant = fixture.tenant
    if outcome.reserved + outcome.refused != reservations:
        problems.append(f"{outcome.reserved} reserved + {outcome.refused} refused "
                        f"!= {reservations} attempted")
    events = UsageEvent.unscoped.filter(tenant=tenant)
    if events.count() != outcome.settled:
        problems.append(f"ledger has {events.count()} events, workers settled {outcome.settled}")
    states = Counter(Reservation.unscoped.filter(tenant=tenant)
                     .values_list("state", flat=True))
    expected_states = {"settled": outcome.settled, "released": outcome.released}
    if {k: v for k, v in states.items() if v} != {k: v for k, v in expected_states.items() if v}:
        problems.append(f"reservation states {dict(states)} != {expected_states}")
    price = services.STANDARD_TERMS.overage_price_per_call
    for counter in DailyUsage.unscoped.filter(tenant=tenant).select_related("store"):
        ledger = events.filter(store=counter.store, day=counter.day).aggregate(
            included=Count("id", filter=Q(kind="included")),
            overage=Count("id", filter=Q(kind="overage")),
            amount=Sum("unit_price", filter=Q(kind="overage")))
        amount = ledger["amount"] or Decimal("0.00")
        label = f"{counter.store.display_name} {counter.day}"
        if counter.reserved != 0:
            problems.append(f"{label}: {counter.reserved} calls still reserved")
        if (counter.included_used, counter.overage_used) != (ledger["included"],
                                                             ledger["overage"]):
            problems.append(f"{label}: counters {counter.included_used}+{counter.overage_used} "
                            f"!= ledger {ledger['included']}+{ledger['overage']}")
        if counter.overage_used and counter.included_used != 500:
            problems.append(f"{label}: overage charged before the 500 included calls")
        if amount != price * counter.overage_used:
            problems.append(f"{label}: overage CNY {amount} != {counter.overage_used} x {price}")
        if counter.store_id == fixture.capped_store.pk:
            limit = 500 + fixture.cap
            if counter.included_used + counter.overage_used > limit:
                problems.append(f"{label}: {counter.included_used + counter.overage_used} "
                                f"calls charged beyond the limit of {limit}")
        lines.append(f"  {label}: included {counter.included_used}, overage "
                     f"{counter.overage_used} (CNY {amount}), in flight {counter.reserved}")
    return problems, lines


def tear_down(run: str) -> None:
    """Remove everything run `run` created, the append-only rows included (raw SQL on
    purpose: the models refuse to delete ledger and audit rows)."""
    tenant_ids = list(Tenant.objects.filter(slug=f"qbench-{run}").values_list("pk", flat=True))
    with transaction.atomic(), connection.cursor() as cursor:
        for tenant_id in tenant_ids:
            for table in (UsageEvent._meta.db_table, Reservation._meta.db_table,
                          DailyUsage._meta.db_table, "audit_auditevent"):
                cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s",  # noqa: S608
                               [tenant_id])
            StoreSubscription.unscoped.filter(tenant_id=tenant_id).update(renewed_from=None)
            StoreSubscription.unscoped.filter(tenant_id=tenant_id).delete()
            Store.unscoped.filter(tenant_id=tenant_id).delete()
            Tenant.objects.filter(pk=tenant_id).delete()
        QuotaPackVersion.objects.filter(pack__code=f"qbench-{run}").delete()
        QuotaPack.objects.filter(code=f"qbench-{run}").delete()
        cursor.execute(f"DELETE FROM {User._meta.db_table} WHERE email = %s",  # noqa: S608
                       [f"benchmark-{run}@benchmark.invalid"])


def tear_down_leftovers() -> int:
    """Runs interrupted before their clean-up (Ctrl-C, a crash) are removed next time."""
    runs = [slug.removeprefix("qbench-") for slug in
            Tenant.objects.filter(slug__startswith="qbench-").values_list("slug", flat=True)]
    for run in runs:
        tear_down(run)
    return len(runs)


def benchmark(reservations: int, workers: int, store_count: int, capped_calls: int,
              processes: bool = True) -> Report:
    run = uuid.uuid4().hex[:10]
    close_old_connections()
    tear_down_leftovers()
    fixture = set_up(run, store_count, capped_calls)
    try:
        outcome, seconds = run_workers(fixture, reservations, workers, processes)
        connections["default"].ensure_connection()
        problems, lines = verify(fixture, outcome, reservations)
    finally:
        tear_down(run)
    return Report(reservations, workers, store_count, seconds, outcome, problems, lines)
