"""The daily quota: reserve a call before the model runs, settle it when the content reaches
review, release it on failure. Exact with any number of workers at once.

How it stays exact (see docs/architecture.md, "Quota"): the only shared state is one
`DailyUsage` row per store and local day in PostgreSQL. Taking a call is ONE conditional
`UPDATE ... SET reserved = reserved + 1 WHERE used + reserved < limit`; PostgreSQL takes the
row lock and re-checks the condition on the newest row version, so concurrent workers queue
on the row and none can overshoot. Settling moves the call from `reserved` to included
(while included calls are left) or overage, and appends the ledger row in the same
transaction. Each step (reserve, settle, release) is a single statement: one
round trip and one transaction, so the counter's row lock is held only for that statement and
an asynchronous commit. The ledger (`UsageEvent`, unique per item key) and the reservation
(unique per item key) make every step idempotent.

Generation calls, in this order and with the generation item's stable key:

    reservation = reserve_call(store, item_key)   # before the model call; may raise
    ...model call...
    settle_call(item_key)                         # content reached review: charged once
    release_call(item_key)                        # any failure instead: never charged

Call them outside long transactions (Celery tasks are not atomic): inside an outer
transaction the counter row stays locked until that transaction ends.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from billing.models import (
    DailyUsage,
    QuotaPackVersion,
    Reservation,
    StoreSubscription,
    UsageEvent,
)
from kernel.money import to_cny
from portal.error_codes import describe
from stores.models import Store
from tenants.models import Tenant

ZERO = Decimal("0.00")
Status = StoreSubscription.Status


# Errors ------------------------------------------------------------------------------------

class QuotaError(Exception):
    """A call that may not run or be charged. `code` is for logs, `message` for people."""

    code = "ERR_QUOTA"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoActiveSubscription(QuotaError):
    """The store has no trial or active subscription covering today: generation cannot start."""

    code = "ERR_NO_SUBSCRIPTION"


class QuotaExceeded(QuotaError):
    """Included calls and the overage cap are used up for today; `resets_at` says until when."""

    code = "ERR_QUOTA_EXCEEDED"

    def __init__(self, message: str, *, resets_at: datetime) -> None:
        super().__init__(message)
        self.resets_at = resets_at


class ReservationNotFound(QuotaError):
    code = "ERR_RESERVATION_NOT_FOUND"


class ReservationReleased(QuotaError):
    """Settling a call whose reservation was already released (failure, or expiry)."""

    code = "ERR_RESERVATION_RELEASED"


# Local days --------------------------------------------------------------------------------

def local_day(tenant: Tenant, at: datetime | None = None) -> date:
    """The tenant's calendar day at `at` (now): quota days start at 00:00 in its time zone."""
    return timezone.localtime(at or timezone.now(), tenant.zone).date()


def day_starts_at(tenant: Tenant, day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tenant.zone)


def quota_resets_at(tenant: Tenant, day: date) -> datetime:
    """When the quota of `day` resets: the next local midnight, as an aware datetime."""
    return day_starts_at(tenant, day + timedelta(days=1))


def _local_time_text(moment: datetime, tenant: Tenant) -> str:
    local = timezone.localtime(moment, tenant.zone)
    return f"{formats.date_format(local, 'Y-m-d H:i')} ({tenant.time_zone})"


# Subscriptions -----------------------------------------------------------------------------

def current_subscription(store: Store, day: date) -> StoreSubscription | None:
    """The trial or active subscription covering `day`, if any. Unscoped on purpose: the
    store already decides the tenant (generation workers may call this outside a request)."""
    return (StoreSubscription.unscoped.select_related("pack_version__pack")
            .filter(store_id=store.pk, status__in=StoreSubscription.USABLE,
                    starts_on__lte=day, ends_on__gte=day)
            .order_by("-starts_on").first())


def why_not_usable(store: Store, day: date) -> str:
    """A sentence for the seller saying why the store has no usable subscription today."""
    latest = (StoreSubscription.unscoped.filter(store_id=store.pk, starts_on__lte=day)
              .order_by("-starts_on", "-id").first())
    upcoming = (StoreSubscription.unscoped.filter(store_id=store.pk, starts_on__gt=day)
                .exclude(status=Status.CANCELLED).order_by("starts_on").first())
    params = {"store": store.display_name}
    if latest is None and upcoming is not None:
        return _("The subscription of store %(store)s only starts on %(date)s; AI generation "
                 "is possible from then on.") % {**params, "date": upcoming.starts_on}
    if latest is None:
        return _("Store %(store)s has no subscription, so AI generation cannot start. The "
                 "owner can start its free trial on the Usage page, or ask ISV sales for a "
                 "quota pack for this store.") % params
    if latest.status == Status.CANCELLED:
        return _("The subscription of store %(store)s was cancelled, so AI generation cannot "
                 "start. Ask ISV sales to subscribe the store again.") % params
    if latest.status == Status.PAST_DUE:
        return _("The licence payment for store %(store)s is overdue, so AI generation is "
                 "paused until it is paid.") % params
    return _("The subscription of store %(store)s ended on %(date)s, so AI generation cannot "
             "start. Renew it to continue.") % {**params, "date": latest.ends_on}


@dataclass(frozen=True)
class _Terms:
    """What a reservation needs of the subscription covering its day."""

    subscription_id: int
    included: int
    overage_price: Decimal
    cap: int | None

    @property
    def limit(self) -> int | None:
        """Most calls a day (included + overage cap); None: no cap."""
        return None if self.cap is None else self.included + self.cap


def _usable_terms(store: Store, day: date) -> _Terms:
    """The terms of the trial or active subscription covering `day`; raises
    NoActiveSubscription with the reason. One query: this runs before every AI call."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.id, v.included_calls_per_day, v.overage_price_per_call, "  # noqa: S608
            f"s.daily_overage_cap FROM {SUBSCRIPTIONS} s JOIN {VERSIONS} v "
            f"ON v.id = s.pack_version_id WHERE s.store_id = %s AND s.status IN (%s, %s) "
            f"AND s.starts_on <= %s AND s.ends_on >= %s ORDER BY s.starts_on DESC LIMIT 1",
            [store.pk, *(status.value for status in StoreSubscription.USABLE), day, day])
        row = cursor.fetchone()
    if row is None:
        raise NoActiveSubscription(why_not_usable(store, day))
    return _Terms(row[0], row[1], to_cny(row[2]), row[3])


def _exceeded(store: Store, terms: _Terms, day: date) -> QuotaExceeded:
    tenant = store.tenant
    resets_at = quota_resets_at(tenant, day)
    if terms.cap:
        usage = _("%(included)s included calls and the daily overage cap of %(cap)s calls") % {
            "included": terms.included, "cap": terms.cap}
    else:
        usage = _("%(included)s included calls") % {"included": terms.included}
    message = _("%(meaning)s Store %(store)s has used its %(usage)s today. The quota resets at "
                "%(time)s. %(remedy)s") % {
        "meaning": describe(QuotaExceeded.code).meaning, "store": store.display_name,
        "usage": usage, "time": _local_time_text(resets_at, tenant),
        "remedy": describe(QuotaExceeded.code).remedy,
    }
    return QuotaExceeded(message, resets_at=resets_at)


# Reserve, settle, release ------------------------------------------------------------------
#
# The hot paths are plain SQL through Django's connection: the ORM's per-query Python cost
# was most of the CPU time of a quota step. Each step is one statement (the `PG_*`
# statements below); `_reserve_stepwise` serves the rare cases that statement hands over.

RESERVATIONS = Reservation._meta.db_table
COUNTERS = DailyUsage._meta.db_table
EVENTS = UsageEvent._meta.db_table
SUBSCRIPTIONS = StoreSubscription._meta.db_table
VERSIONS = QuotaPackVersion._meta.db_table
RESERVED, SETTLED, RELEASED = (Reservation.State.RESERVED.value, Reservation.State.SETTLED.value,
                               Reservation.State.RELEASED.value)


@contextmanager
def quota_transaction() -> Iterator[None]:
    """A transaction for one quota step. Unless QUOTA_SYNCHRONOUS_COMMIT is on, PostgreSQL
    commits it without waiting for the WAL flush: the counter's row lock is then held for
    microseconds instead of a disk flush, which is what lets many workers share one store's
    counter (docs/architecture.md, "Quota", says what a server crash can cost). Inside an
    outer transaction nothing is changed: that transaction decides."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and not settings.QUOTA_SYNCHRONOUS_COMMIT:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def reserve_call(store: Store, item_key: str) -> Reservation:
    """Hold one AI call of the store's quota for today, before the model is called.

    Idempotent per `item_key`: a retry while the reservation is open (or after it was
    settled) returns it without counting again; a retry after a release reserves afresh.
    Raises NoActiveSubscription or QuotaExceeded (with `resets_at`).
    """
    return _pg_reserve(store, item_key)


def _reserve_stepwise(store: Store, item_key: str) -> Reservation:
    """Reserve in several statements: the rare cases (first call of the day, a retried key)
    that the single statement hands over."""
    now = timezone.now()
    day = local_day(store.tenant, now)
    terms = _usable_terms(store, day)
    fields = _reservation_fields(terms, day, now)
    try:
        with quota_transaction(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {RESERVATIONS} (tenant_id, store_id, item_key, subscription_id, "  # noqa: S608
                f"day, state, included_calls_per_day, overage_price_per_call, reserved_at, "
                f"expires_at, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL) "
                f"RETURNING id",
                [store.tenant_id, store.pk, item_key, *fields.values()])
            pk = cursor.fetchone()[0]
            _take_one(cursor, store, terms, day)  # last: the counter row stays locked to COMMIT
    except IntegrityError:
        return _reserve_existing(store, item_key, terms, day, now)
    reservation = Reservation(pk=pk, tenant_id=store.tenant_id, store_id=store.pk,
                              item_key=item_key, finished_at=None, **fields)
    return _loaded(reservation)


def _loaded(instance):
    """Mark a model instance built from a row we wrote as loaded from the database."""
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


def _reservation_fields(terms: _Terms, day: date, now: datetime) -> dict:
    return {
        "subscription_id": terms.subscription_id, "day": day, "state": RESERVED,
        "included_calls_per_day": terms.included, "overage_price_per_call": terms.overage_price,
        "reserved_at": now,
        "expires_at": now + timedelta(seconds=settings.QUOTA_RESERVATION_TTL_SECONDS),
    }


def _reserve_existing(store: Store, item_key: str, terms: _Terms, day: date,
                      now: datetime) -> Reservation:
    with quota_transaction():
        reservation = Reservation.unscoped.select_for_update().filter(item_key=item_key).first()
        if reservation is None:  # the conflict was something else: let it surface
            raise IntegrityError(f"Could not reserve {item_key!r}.")
        if reservation.store_id != store.pk:
            raise ValueError(f"Item key {item_key!r} is already used by another store.")
        if reservation.state != RELEASED:
            return reservation
        for name, value in _reservation_fields(terms, day, now).items():
            setattr(reservation, name, value)
        reservation.finished_at = None
        reservation.save()
        with connection.cursor() as cursor:
            _take_one(cursor, store, terms, day)
        return reservation


def _take_one(cursor, store: Store, terms: _Terms, day: date) -> None:
    """Count one call in flight on the store's counter for `day`, if the limit allows.
    One conditional UPDATE: atomic, and re-checked by PostgreSQL under the row lock."""
    limit = terms.limit
    if limit is not None and limit <= 0:
        raise _exceeded(store, terms, day)
    update = (f"UPDATE {COUNTERS} SET reserved = reserved + 1 "  # noqa: S608
              f"WHERE store_id = %s AND day = %s")
    params: list = [store.pk, day]
    if limit is not None:
        update += " AND included_used + overage_used + reserved < %s"
        params.append(limit)
    cursor.execute(update, params)
    if cursor.rowcount == 1:
        return
    # No row matched: over the limit, or the day's counter does not exist yet, or another
    # worker has just created it and not committed (this statement could not see it).
    # get_or_create waits for such a worker; after it, the row exists and the next UPDATE
    # (a new snapshot) sees it, so a miss then really means the limit is reached.
    DailyUsage.unscoped.get_or_create(store_id=store.pk, day=day,
                                      defaults={"tenant_id": store.tenant_id})
    cursor.execute(update, params)
    if cursor.rowcount != 1:
        raise _exceeded(store, terms, day)


def settle_call(item_key: str, *, savepoint: bool = True) -> UsageEvent:
    """The call's content reached review: charge it, included calls first, then overage.
    Idempotent: settling again returns the same ledger row and charges nothing more.
    `savepoint=False`: inside a transaction that fails as a whole if this does."""
    return _pg_settle(item_key, savepoint=savepoint)


def _settled_already(item_key: str) -> UsageEvent:
    state = Reservation.unscoped.filter(item_key=item_key).values_list("state", flat=True).first()
    if state is None:
        raise ReservationNotFound(_("No quota reservation for %(key)s.") % {"key": item_key})
    if state == RELEASED:
        raise ReservationReleased(
            _("The quota reservation for %(key)s was released (the call failed or took "
              "too long), so it is not charged.") % {"key": item_key})
    return UsageEvent.unscoped.get(item_key=item_key)


def release_call(item_key: str, *, savepoint: bool = True) -> bool:
    """The call failed: give the quota back, charge nothing. Idempotent; releasing a settled
    or unknown call does nothing. Returns whether this call released the reservation.
    `savepoint=False`: inside a transaction that fails as a whole if this does."""
    return _pg_release(item_key, savepoint=savepoint)


# Each step is one statement -------------------------------------------------------------
#
# Data-modifying CTEs do a whole step (counter, reservation, ledger) in one statement, sent
# in autocommit as a prepared statement that also sets its own asynchronous commit:
# PostgreSQL runs it as one implicit transaction, so a step is one round trip with no
# BEGIN/COMMIT of its own and no parsing after the first, and a failing statement undoes all
# of it. Row locking and READ COMMITTED re-checks work exactly
# as in the stepwise versions above, which still handle the rare cases (see _pg_reserve).

# Asynchronous commit for this statement's implicit transaction only (is_local = true), set
# inside the statement itself so that it stays one statement, which can be prepared. With
# %(async)s false (QUOTA_SYNCHRONOUS_COMMIT, or inside an outer transaction, which decides
# for itself) it sets the current value again: a no-op.
ASYNC_CTE = """async AS (
    SELECT set_config('synchronous_commit',
                      CASE WHEN %(async)s THEN 'off'
                           ELSE current_setting('synchronous_commit') END, true) AS value
)"""

# The terms are read in the statement itself (not cached), so a subscription change counts
# from the next call. The UPDATE re-checks the limit on the newest counter row under its
# lock; the INSERT only happens if the UPDATE matched.
PG_RESERVE = f"""
WITH {ASYNC_CTE}, terms AS (
    SELECT s.id, v.included_calls_per_day AS included, v.overage_price_per_call AS price,
           s.daily_overage_cap AS cap
    FROM {SUBSCRIPTIONS} s JOIN {VERSIONS} v ON v.id = s.pack_version_id
    WHERE s.store_id = %(store)s AND s.status = ANY(%(usable)s)
      AND s.starts_on <= %(day)s AND s.ends_on >= %(day)s
    ORDER BY s.starts_on DESC LIMIT 1
), known AS (
    SELECT EXISTS (SELECT 1 FROM {RESERVATIONS} WHERE item_key = %(key)s) AS key_used,
           EXISTS (SELECT 1 FROM {COUNTERS} WHERE store_id = %(store)s AND day = %(day)s)
               AS counter_exists
), taken AS (
    UPDATE {COUNTERS} c SET reserved = c.reserved + 1
    FROM terms, known
    WHERE c.store_id = %(store)s AND c.day = %(day)s AND NOT known.key_used
      AND (terms.cap IS NULL
           OR c.included_used + c.overage_used + c.reserved < terms.included + terms.cap)
    RETURNING c.id
), made AS (
    INSERT INTO {RESERVATIONS} (tenant_id, store_id, item_key, subscription_id, day, state,
        included_calls_per_day, overage_price_per_call, reserved_at, expires_at, finished_at)
    SELECT %(tenant)s, %(store)s, %(key)s, terms.id, %(day)s, %(state)s, terms.included,
           terms.price, %(now)s, %(expires)s, NULL
    FROM terms, taken
    RETURNING id
)
SELECT terms.id, terms.included, terms.price, terms.cap, (SELECT id FROM made),
       known.key_used, known.counter_exists
FROM terms, known, async"""  # noqa: S608

# `locked` locks the counter row and reads its newest version (READ COMMITTED re-reads it
# after waiting), so the included-or-overage decision and the UPDATE see the same row.
# No counter row (never expected): the call is charged as overage, like the stepwise path.
PG_SETTLE = f"""
WITH {ASYNC_CTE}, r AS (
    UPDATE {RESERVATIONS} SET state = %(settled)s, finished_at = %(now)s
    WHERE item_key = %(key)s AND state = %(reserved)s
    RETURNING tenant_id, store_id, subscription_id, day, included_calls_per_day AS included,
              overage_price_per_call AS price
), locked AS (
    SELECT c.id, c.included_used < r.included AS included
    FROM {COUNTERS} c JOIN r ON c.store_id = r.store_id AND c.day = r.day
    FOR UPDATE OF c
), counted AS (
    UPDATE {COUNTERS} c SET included_used = c.included_used + locked.included::int,
        overage_used = c.overage_used + (NOT locked.included)::int, reserved = c.reserved - 1
    FROM locked WHERE c.id = locked.id
    RETURNING locked.included
)
INSERT INTO {EVENTS} (tenant_id, store_id, subscription_id, item_key, day, kind, unit_price,
                      created_at, reported_to_stripe_at, stripe_meter_event_id)
SELECT r.tenant_id, r.store_id, r.subscription_id, %(key)s, r.day,
       CASE WHEN counted.included THEN %(included)s ELSE %(overage)s END,
       CASE WHEN counted.included THEN 0 ELSE r.price END, %(now)s, NULL, ''
FROM r LEFT JOIN counted ON TRUE, async
RETURNING id, tenant_id, store_id, subscription_id, day, kind, unit_price"""  # noqa: S608

PG_RELEASE = f"""
WITH {ASYNC_CTE}, r AS (
    UPDATE {RESERVATIONS} SET state = %(released)s, finished_at = %(now)s
    WHERE item_key = %(key)s AND state = %(reserved)s
    RETURNING store_id, day
), counted AS (
    UPDATE {COUNTERS} c SET reserved = c.reserved - 1
    FROM r WHERE c.store_id = r.store_id AND c.day = r.day
)
SELECT store_id FROM r, async"""  # noqa: S608


def _one_statement(sql: str, params: dict, *, savepoint: bool = True) -> tuple | None:
    """Run one quota statement as its own transaction; return its first row.

    In autocommit it goes straight to psycopg with server-side parameters, prepared: after
    its first use on a connection PostgreSQL keeps the parsed (and, once settled, the
    planned) statement, and each step is a Bind/Execute of the prepared one. Django's cursor
    wrapper binds client-side, which costs more Python per step and cannot be prepared.
    Errors still become Django's (IntegrityError for a key reserved concurrently).

    Inside a transaction the caller decides on commit and durability. The statement runs in
    a savepoint, so a failed statement leaves the transaction usable, unless `savepoint` is
    False: for a caller whose whole transaction fails with the statement anyway (the
    generation pipeline's ending), which saves two round trips."""
    in_transaction = connection.in_atomic_block or not connection.get_autocommit()
    if in_transaction and savepoint:
        with transaction.atomic():
            return _one_statement(sql, params, savepoint=False)
    params = {**params, "async": not in_transaction and not settings.QUOTA_SYNCHRONOUS_COMMIT}
    connection.ensure_connection()
    raw = connection.connection
    # Prepared from the first use, unless the connection prepares nothing
    # (DATABASE_PREPARED_STATEMENTS off, e.g. behind PgBouncer older than 1.21).
    prepare = raw.prepare_threshold is not None
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params, prepare=prepare)
        return cursor.fetchone()


def _pg_reserve(store: Store, item_key: str) -> Reservation:
    now = timezone.now()
    day = local_day(store.tenant, now)
    params = {
        "tenant": store.tenant_id, "store": store.pk, "key": item_key, "day": day, "now": now,
        "state": RESERVED, "usable": [status.value for status in StoreSubscription.USABLE],
        "expires": now + timedelta(seconds=settings.QUOTA_RESERVATION_TTL_SECONDS),
    }
    try:
        row = _one_statement(PG_RESERVE, params)
    except IntegrityError:  # the same key reserved concurrently: nothing of ours was kept
        return _reserve_stepwise(store, item_key)
    if row is None:
        raise NoActiveSubscription(why_not_usable(store, day))
    subscription_id, included, price, cap, pk, key_used, counter_exists = row
    terms = _Terms(subscription_id, included, to_cny(price), cap)
    if pk is None:
        # A retried key, or the day's first call (no counter row yet, or one another worker
        # has not committed): the stepwise path handles both. Otherwise the UPDATE saw the
        # counter and the limit refused the call.
        if key_used or not counter_exists:
            return _reserve_stepwise(store, item_key)
        raise _exceeded(store, terms, day)
    return _loaded(Reservation(pk=pk, tenant_id=store.tenant_id, store_id=store.pk,
                               item_key=item_key, finished_at=None,
                               **_reservation_fields(terms, day, now)))


def _pg_settle(item_key: str, *, savepoint: bool) -> UsageEvent:
    now = timezone.now()
    row = _one_statement(PG_SETTLE, {
        "key": item_key, "now": now, "settled": SETTLED, "reserved": RESERVED,
        "included": UsageEvent.Kind.INCLUDED.value, "overage": UsageEvent.Kind.OVERAGE.value},
        savepoint=savepoint)
    if row is None:  # not open: settled already (idempotent), released, or unknown
        return _settled_already(item_key)
    pk, tenant_id, store_id, subscription_id, day, kind, unit_price = row
    return _loaded(UsageEvent(pk=pk, tenant_id=tenant_id, store_id=store_id,
                              subscription_id=subscription_id, item_key=item_key, day=day,
                              kind=kind, unit_price=to_cny(unit_price), created_at=now,
                              reported_to_stripe_at=None, stripe_meter_event_id=""))


def _pg_release(item_key: str, *, savepoint: bool) -> bool:
    row = _one_statement(PG_RELEASE, {"key": item_key, "now": timezone.now(),
                                      "released": RELEASED, "reserved": RESERVED},
                         savepoint=savepoint)
    return row is not None


def release_expired_reservations(now: datetime | None = None, batch_size: int = 1000) -> int:
    """Housekeeping (django-q2 schedule): release reservations whose worker never came back.
    The time to live is longer than Celery's hard time limit, so no live task is affected."""
    now = now or timezone.now()
    keys = list(Reservation.unscoped.filter(state=RESERVED, expires_at__lt=now)
                .order_by("expires_at").values_list("item_key", flat=True)[:batch_size])
    return sum(release_call(key) for key in keys)


# Selectors ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoreUsageToday:
    store: Store
    day: date
    resets_at: datetime
    subscription: StoreSubscription | None  # the usable one covering today
    included_calls: int
    included_used: int
    overage_used: int
    in_progress: int
    overage_amount: Decimal
    overage_cap: int | None
    unusable_reason: str = ""

    @property
    def included_left(self) -> int:
        return max(0, self.included_calls - self.included_used)

    @property
    def calls_left(self) -> int | None:
        """Calls that can still start today; None: no cap on overage."""
        if self.subscription is None:
            return 0
        if self.overage_cap is None:
            return None
        used = self.included_used + self.overage_used + self.in_progress
        return max(0, self.included_calls + self.overage_cap - used)


def usage_today(store: Store, at: datetime | None = None) -> StoreUsageToday:
    """The store's quota today (its tenant's local day)."""
    tenant = store.tenant
    day = local_day(tenant, at)
    subscription = current_subscription(store, day)
    counter = DailyUsage.unscoped.filter(store_id=store.pk, day=day).first()
    amount = UsageEvent.unscoped.filter(
        store_id=store.pk, day=day, kind=UsageEvent.Kind.OVERAGE,
    ).aggregate(total=Sum("unit_price"))["total"] or ZERO
    return StoreUsageToday(
        store=store, day=day, resets_at=quota_resets_at(tenant, day), subscription=subscription,
        included_calls=subscription.pack_version.included_calls_per_day if subscription else 0,
        included_used=counter.included_used if counter else 0,
        overage_used=counter.overage_used if counter else 0,
        in_progress=counter.reserved if counter else 0,
        overage_amount=amount,
        overage_cap=subscription.daily_overage_cap if subscription else None,
        unusable_reason="" if subscription else why_not_usable(store, day),
    )


@dataclass(frozen=True)
class DayUsage:
    day: date
    included_calls: int
    overage_calls: int
    overage_amount: Decimal

    @property
    def calls(self) -> int:
        return self.included_calls + self.overage_calls


@dataclass
class StoreMonthUsage:
    store: Store
    days: list[DayUsage] = field(default_factory=list)

    @property
    def included_calls(self) -> int:
        return sum(d.included_calls for d in self.days)

    @property
    def overage_calls(self) -> int:
        return sum(d.overage_calls for d in self.days)

    @property
    def overage_amount(self) -> Decimal:
        return sum((d.overage_amount for d in self.days), ZERO)


@dataclass
class MonthUsage:
    tenant: Tenant
    year: int
    month: int
    stores: list[StoreMonthUsage]

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def overage_amount(self) -> Decimal:
        return sum((s.overage_amount for s in self.stores), ZERO)

    @property
    def calls(self) -> int:
        return sum(s.included_calls + s.overage_calls for s in self.stores)


def month_bounds(period: date) -> tuple[date, date]:
    """The first and last day of the month `period` falls in."""
    first = period.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def usage_for_month(tenant: Tenant, year: int, month: int) -> MonthUsage:
    """Settled calls per store per local day of one month, from the ledger (the truth for
    billing). Every store of the tenant is listed, with or without usage."""
    first, last = month_bounds(date(year, month, 1))
    overage = Q(kind=UsageEvent.Kind.OVERAGE)
    rows = (UsageEvent.unscoped.filter(tenant=tenant, day__range=(first, last))
            .values("store_id", "day")
            .annotate(included=Count("id", filter=Q(kind=UsageEvent.Kind.INCLUDED)),
                      overage=Count("id", filter=overage),
                      amount=Sum("unit_price", filter=overage))
            .order_by("store_id", "day"))
    stores = {s.pk: StoreMonthUsage(store=s) for s in Store.unscoped.filter(tenant=tenant)}
    for row in rows:
        stores[row["store_id"]].days.append(DayUsage(
            day=row["day"], included_calls=row["included"], overage_calls=row["overage"],
            overage_amount=row["amount"] or ZERO))
    return MonthUsage(tenant=tenant, year=year, month=month, stores=list(stores.values()))
