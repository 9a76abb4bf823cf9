"""The quota service: reserve, settle, release, the local day, money, versions, subscriptions."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone, translation

from billing import quota, services
from billing.models import (
    DailyUsage,
    QuotaPackVersion,
    Reservation,
    StoreSubscription,
    UsageEvent,
)
from tests.billing.conftest import make_store

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
LOS_ANGELES = zoneinfo.ZoneInfo("America/Los_Angeles")


def counter(store, day=None) -> DailyUsage:
    day = day or quota.local_day(store.tenant)
    return DailyUsage.unscoped.get(store=store, day=day)


def use(store, count: int, prefix: str = "item") -> list[UsageEvent]:
    events = []
    for n in range(count):
        key = f"{prefix}-{store.pk}-{n}"
        quota.reserve_call(store, key)
        events.append(quota.settle_call(key))
    return events


def assert_counters_match_ledger(store) -> None:
    for row in DailyUsage.unscoped.filter(store=store):
        events = UsageEvent.unscoped.filter(store=store, day=row.day)
        assert row.included_used == events.filter(kind="included").count()
        assert row.overage_used == events.filter(kind="overage").count()


# Reserve and settle ------------------------------------------------------------------------

def test_reserve_then_settle_charges_one_included_call(subscription_a, store_a):
    reservation = quota.reserve_call(store_a, "job-1:item-1")
    assert reservation.state == Reservation.State.RESERVED
    assert counter(store_a).reserved == 1
    event = quota.settle_call("job-1:item-1")
    assert (event.kind, event.unit_price) == ("included", Decimal("0.00"))
    assert event.subscription == subscription_a and event.tenant == store_a.tenant
    row = counter(store_a)
    assert (row.included_used, row.overage_used, row.reserved) == (1, 0, 0)


def test_included_calls_are_used_first_then_overage(subscription_a, store_a):
    events = use(store_a, 503)
    kinds = [e.kind for e in events]
    assert kinds[:500] == ["included"] * 500
    assert kinds[500:] == ["overage"] * 3
    assert [e.unit_price for e in events[500:]] == [Decimal("0.80")] * 3
    row = counter(store_a)
    assert (row.included_used, row.overage_used) == (500, 3)
    assert_counters_match_ledger(store_a)


def test_included_first_even_when_calls_settle_out_of_order(subscription_a, store_a):
    use(store_a, 499)
    quota.reserve_call(store_a, "late")
    quota.reserve_call(store_a, "early")
    assert quota.settle_call("early").kind == "included"
    assert quota.settle_call("late").kind == "overage"


def test_cap_zero_stops_at_the_included_calls(subscription_a, store_a):
    services.set_daily_overage_cap(store_a, 0, by=None)
    use(store_a, 500)
    with pytest.raises(quota.QuotaExceeded) as refused:
        quota.reserve_call(store_a, "number-501")
    assert refused.value.code == "ERR_QUOTA_EXCEEDED"
    assert counter(store_a).overage_used == 0
    assert not Reservation.unscoped.filter(item_key="number-501").exists()


def test_cap_counts_calls_in_flight(subscription_a, store_a):
    services.set_daily_overage_cap(store_a, 2, by=None)
    for n in range(502):
        quota.reserve_call(store_a, f"k{n}")  # none settled yet
    with pytest.raises(quota.QuotaExceeded):
        quota.reserve_call(store_a, "k502")
    quota.release_call("k0")  # a failure gives its place back
    quota.reserve_call(store_a, "k502")
    assert counter(store_a).reserved == 502


def test_quota_exceeded_says_when_it_resets_in_local_time(tenant_a, store_a, pack, clock):
    clock.set(datetime(2026, 3, 10, 15, 30, tzinfo=SHANGHAI))
    services.subscribe_store(store_a, pack, by=None, daily_overage_cap=0)
    use(store_a, 500)
    with translation.override("en"), pytest.raises(quota.QuotaExceeded) as refused:
        quota.reserve_call(store_a, "one-too-many")
    assert refused.value.resets_at == datetime(2026, 3, 11, 0, 0, tzinfo=SHANGHAI)
    assert "2026-03-11 00:00 (Asia/Shanghai)" in refused.value.message
    assert "Alpha Temu US" in refused.value.message
    with translation.override("zh-hans"), pytest.raises(quota.QuotaExceeded) as refused_zh:
        quota.reserve_call(store_a, "one-too-many")
    assert "2026-03-11 00:00" in refused_zh.value.message
    assert refused_zh.value.message != refused.value.message  # translated


def test_cap_change_applies_to_the_next_reservation(subscription_a, store_a):
    services.set_daily_overage_cap(store_a, 0, by=None)
    use(store_a, 500)
    with pytest.raises(quota.QuotaExceeded):
        quota.reserve_call(store_a, "x")
    services.set_daily_overage_cap(store_a, None, by=None)
    quota.reserve_call(store_a, "x")
    assert quota.settle_call("x").kind == "overage"


# Idempotency -------------------------------------------------------------------------------

def test_settle_is_idempotent(subscription_a, store_a):
    quota.reserve_call(store_a, "retried")
    first = quota.settle_call("retried")
    for _retry in range(3):
        assert quota.settle_call("retried").pk == first.pk
    assert UsageEvent.unscoped.filter(item_key="retried").count() == 1
    assert (counter(store_a).included_used, counter(store_a).reserved) == (1, 0)


def test_reserve_is_idempotent_while_open_and_after_settling(subscription_a, store_a):
    first = quota.reserve_call(store_a, "again")
    assert quota.reserve_call(store_a, "again").pk == first.pk
    assert counter(store_a).reserved == 1
    quota.settle_call("again")
    assert quota.reserve_call(store_a, "again").state == Reservation.State.SETTLED
    quota.settle_call("again")
    row = counter(store_a)
    assert (row.included_used, row.reserved) == (1, 0)
    assert UsageEvent.unscoped.count() == 1


def test_release_never_charges_and_is_idempotent(subscription_a, store_a):
    quota.reserve_call(store_a, "fails")
    assert quota.release_call("fails") is True
    assert quota.release_call("fails") is False
    assert quota.release_call("never-reserved") is False
    row = counter(store_a)
    assert (row.included_used, row.overage_used, row.reserved) == (0, 0, 0)
    assert not UsageEvent.unscoped.exists()
    with pytest.raises(quota.ReservationReleased):
        quota.settle_call("fails")
    assert not UsageEvent.unscoped.exists()


def test_release_after_settle_does_not_refund(subscription_a, store_a):
    quota.reserve_call(store_a, "done")
    quota.settle_call("done")
    assert quota.release_call("done") is False
    assert counter(store_a).included_used == 1
    assert UsageEvent.unscoped.count() == 1


def test_a_retry_after_release_reserves_again_and_charges_once(subscription_a, store_a):
    quota.reserve_call(store_a, "flaky")
    quota.release_call("flaky")
    again = quota.reserve_call(store_a, "flaky")
    assert again.state == Reservation.State.RESERVED
    assert counter(store_a).reserved == 1
    quota.settle_call("flaky")
    assert UsageEvent.unscoped.filter(item_key="flaky").count() == 1


def test_settling_an_unknown_key_says_so(db):
    with pytest.raises(quota.ReservationNotFound):
        quota.settle_call("nope")


def test_the_ledger_is_append_only(subscription_a, store_a):
    event = use(store_a, 1)[0]
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()
    with pytest.raises(ValueError):
        UsageEvent.unscoped.all().update(unit_price=Decimal("9.99"))
    with pytest.raises(ValueError):
        UsageEvent.unscoped.all().delete()
    now = timezone.now()
    assert UsageEvent.unscoped.all().update(reported_to_stripe_at=now) == 1  # for Stripe later


# Housekeeping ------------------------------------------------------------------------------

def test_expired_reservations_are_released_by_housekeeping(subscription_a, store_a, settings):
    quota.reserve_call(store_a, "crashed-worker")
    quota.reserve_call(store_a, "still-running")
    Reservation.unscoped.filter(item_key="crashed-worker").update(
        expires_at=timezone.now() - timedelta(seconds=1))
    assert quota.release_expired_reservations() == 1
    assert Reservation.unscoped.get(item_key="crashed-worker").state == "released"
    assert Reservation.unscoped.get(item_key="still-running").state == "reserved"
    assert counter(store_a).reserved == 1
    assert quota.release_expired_reservations() == 0
    # A late settle of the released call is refused, never charged.
    with pytest.raises(quota.ReservationReleased):
        quota.settle_call("crashed-worker")
    assert not UsageEvent.unscoped.exists()


def test_reservations_live_longer_than_a_task(settings, subscription_a, store_a):
    reservation = quota.reserve_call(store_a, "ttl")
    lifetime = (reservation.expires_at - reservation.reserved_at).total_seconds()
    assert lifetime == settings.QUOTA_RESERVATION_TTL_SECONDS > settings.CELERY_TASK_TIME_LIMIT


def test_housekeeping_schedules_exist(db):
    from django_q.models import Schedule

    funcs = set(Schedule.objects.values_list("func", flat=True))
    assert {"billing.quota.release_expired_reservations",
            "billing.services.expire_ended_subscriptions"} <= funcs


# The local day -----------------------------------------------------------------------------

@pytest.mark.parametrize("zone_name", ["Asia/Shanghai", "America/Los_Angeles"])
def test_the_quota_day_starts_at_local_midnight(zone_name, tenant_a, owner_a, pack, clock):
    zone = zoneinfo.ZoneInfo(zone_name)
    tenant_a.time_zone = zone_name
    tenant_a.save()
    store = make_store(tenant_a, owner_a)
    clock.set(datetime(2026, 6, 30, 12, 0, tzinfo=zone))
    services.subscribe_store(store, pack, by=None, daily_overage_cap=0)
    clock.set(datetime(2026, 6, 30, 23, 59, 59, tzinfo=zone))
    use(store, 500, prefix="evening")
    with pytest.raises(quota.QuotaExceeded) as refused:
        quota.reserve_call(store, "just-before-midnight")
    assert refused.value.resets_at == datetime(2026, 7, 1, tzinfo=zone)
    clock.set(datetime(2026, 7, 1, 0, 0, 0, tzinfo=zone))
    quota.reserve_call(store, "just-after-midnight")
    event = quota.settle_call("just-after-midnight")
    assert event.day == date(2026, 7, 1) and event.kind == "included"
    assert counter(store, date(2026, 6, 30)).included_used == 500
    assert counter(store, date(2026, 7, 1)).included_used == 1


def test_same_instant_is_a_different_day_in_shanghai_and_los_angeles(tenant_a, tenant_b,
                                                                      owner_a, owner_b, pack,
                                                                      clock):
    tenant_b.time_zone = "America/Los_Angeles"
    tenant_b.save()
    # 2026-01-15 17:00 UTC: already the 16th in Shanghai, still the 15th in Los Angeles.
    instant = datetime(2026, 1, 15, 17, 0, tzinfo=zoneinfo.ZoneInfo("UTC"))
    clock.set(instant)
    shanghai_store, la_store = make_store(tenant_a, owner_a), make_store(tenant_b, owner_b)
    for store in (shanghai_store, la_store):
        services.subscribe_store(store, pack, by=None)
        quota.reserve_call(store, f"now-{store.pk}")
    assert Reservation.unscoped.get(store=shanghai_store).day == date(2026, 1, 16)
    assert Reservation.unscoped.get(store=la_store).day == date(2026, 1, 15)
    assert quota.usage_today(la_store).resets_at == datetime(2026, 1, 16, tzinfo=LOS_ANGELES)
    assert quota.usage_today(shanghai_store).resets_at == datetime(2026, 1, 17,
                                                                   tzinfo=SHANGHAI)


def test_a_call_settled_after_midnight_counts_on_the_day_it_was_reserved(subscription_a,
                                                                           store_a, clock):
    today = quota.local_day(store_a.tenant)
    clock.set(datetime.combine(today, datetime.max.time(), tzinfo=SHANGHAI))
    quota.reserve_call(store_a, "spans-midnight")
    clock.set(datetime.combine(today + timedelta(days=1), datetime.min.time(),
                               tzinfo=SHANGHAI) + timedelta(seconds=5))
    assert quota.settle_call("spans-midnight").day == today
    assert counter(store_a, today).included_used == 1


# Money -------------------------------------------------------------------------------------

def test_money_is_exact_to_the_fen(tenant_a, owner_a, pack, store_a):
    services.publish_pack_terms(pack, services.PackTerms(
        licence_price_per_year=Decimal("2880.00"), included_calls_per_day=0,
        overage_price_per_call=Decimal("0.10"), sku_limit=5000,
        marketplaces=("temu", "aliexpress")), by=None)
    services.subscribe_store(store_a, pack, by=None)
    use(store_a, 30)
    total = UsageEvent.unscoped.aggregate(total=Sum("unit_price"))["total"]
    assert total == Decimal("3.00")  # 30 x 0.10 in floating point is 3.0000000000000004
    assert isinstance(total, Decimal)
    today = quota.usage_today(store_a)
    assert today.overage_amount == Decimal("3.00") and today.overage_used == 30
    day = quota.local_day(store_a.tenant)
    month = quota.usage_for_month(store_a.tenant, day.year, day.month)
    assert month.overage_amount == Decimal("3.00")
    assert str(month.overage_amount) == "3.00"


# Versions and subscriptions ----------------------------------------------------------------

def test_a_price_change_makes_a_new_version_and_running_subscriptions_keep_theirs(
        pack, store_a, tenant_a, owner_a):
    running = services.subscribe_store(store_a, pack, by=None)
    v1 = running.pack_version
    same = services.publish_pack_terms(pack, services.STANDARD_TERMS, by=None)
    assert same.pk == v1.pk  # unchanged terms: no new version
    dearer = services.PackTerms(**{**services.STANDARD_TERMS.__dict__,
                                   "overage_price_per_call": Decimal("1.20")})
    v2 = services.publish_pack_terms(pack, dearer, by=None)
    assert (v1.number, v2.number) == (1, 2)
    assert pack.current_version == v2
    v1.refresh_from_db()
    assert v1.overage_price_per_call == Decimal("0.80")  # versions never change
    with pytest.raises(ValueError):
        v1.save()
    # The running subscription still charges the old price...
    use(store_a, 501, prefix="before-renewal")
    assert UsageEvent.unscoped.get(kind="overage").unit_price == Decimal("0.80")
    # ...and a new store gets the new one.
    other = make_store(tenant_a, owner_a)
    assert services.subscribe_store(other, pack, by=None).pack_version == v2
    # Renewal moves to the current version, for the next period.
    renewal = services.renew_subscription(running, by=None)
    assert renewal.pack_version == v2
    assert renewal.starts_on == running.ends_on + timedelta(days=1)
    assert renewal.renewed_from == running
    with pytest.raises(services.BillingError):
        services.renew_subscription(running, by=None)


def test_renewed_period_charges_the_new_price(pack, store_a, clock):
    clock.set(datetime(2026, 1, 1, 9, 0, tzinfo=SHANGHAI))
    running = services.subscribe_store(store_a, pack, by=None)
    assert running.ends_on == date(2026, 12, 31)
    services.publish_pack_terms(pack, services.PackTerms(
        **{**services.STANDARD_TERMS.__dict__, "overage_price_per_call": Decimal("1.20")}),
        by=None)
    services.renew_subscription(running, by=None)
    clock.set(datetime(2027, 1, 1, 9, 0, tzinfo=SHANGHAI))  # the renewed period
    assert services.expire_ended_subscriptions() == 1
    events = use(store_a, 501)
    assert events[-1].unit_price == Decimal("1.20")
    assert events[-1].subscription.starts_on == date(2027, 1, 1)


def test_a_store_without_subscription_cannot_reserve_and_says_why(tenant_a, owner_a, pack,
                                                                   store_a):
    with translation.override("en"):
        with pytest.raises(quota.NoActiveSubscription) as none:
            quota.reserve_call(store_a, "a")
        assert none.value.code == "ERR_NO_SUBSCRIPTION"
        assert "has no subscription" in none.value.message
        assert "Alpha Temu US" in none.value.message

        subscription = services.subscribe_store(store_a, pack, by=None)
        services.cancel_subscription(subscription, by=None)
        with pytest.raises(quota.NoActiveSubscription) as cancelled:
            quota.reserve_call(store_a, "b")
        assert "was cancelled" in cancelled.value.message

        other = make_store(tenant_a, owner_a, "Past Due Shop")
        overdue = services.subscribe_store(other, pack, by=None)
        StoreSubscription.unscoped.filter(pk=overdue.pk).update(status="past_due")
        with pytest.raises(quota.NoActiveSubscription) as past_due:
            quota.reserve_call(other, "c")
        assert "overdue" in past_due.value.message

        ended = make_store(tenant_a, owner_a, "Ended Shop")
        # A period of the past, as history has it (services refuse to create one today).
        start = date.today() - timedelta(days=400)
        StoreSubscription.unscoped.create(
            tenant=tenant_a, store=ended, pack_version=pack.current_version, status="active",
            starts_on=start, ends_on=services.one_year_from(start))
        with pytest.raises(quota.NoActiveSubscription) as lapsed:
            quota.reserve_call(ended, "d")
        assert "ended on" in lapsed.value.message
    assert not Reservation.unscoped.exists() and not DailyUsage.unscoped.exists()


def test_trial_allows_generation_for_its_days(settings, pack, store_a):
    trial = services.subscribe_store(store_a, pack, by=None, status="trial")
    assert (trial.ends_on - trial.starts_on).days == settings.BILLING_TRIAL_DAYS - 1
    quota.reserve_call(store_a, "trial-call")


def test_subscriptions_cannot_overlap_and_must_cover_the_marketplace(pack, store_a, tenant_a,
                                                                     owner_a):
    services.subscribe_store(store_a, pack, by=None)
    with pytest.raises(services.BillingError):
        services.subscribe_store(store_a, pack, by=None)
    temu_only = services.create_pack(code="temu-only", name="Temu only", by=None, terms=(
        services.PackTerms(**{**services.STANDARD_TERMS.__dict__, "marketplaces": ("temu",)})))
    aliexpress = make_store(tenant_a, owner_a, site_code="aliexpress-es")
    with pytest.raises(services.BillingError):
        services.subscribe_store(aliexpress, temu_only, by=None)


def test_expire_ended_subscriptions_follows_the_tenant_day(pack, store_a, clock):
    clock.set(datetime(2026, 1, 1, 9, 0, tzinfo=SHANGHAI))
    subscription = services.subscribe_store(store_a, pack, by=None, status="trial")
    last_day = subscription.ends_on
    clock.set(datetime.combine(last_day, datetime.max.time(), tzinfo=SHANGHAI))
    assert services.expire_ended_subscriptions() == 0
    clock.set(datetime.combine(last_day + timedelta(days=1), datetime.min.time(),
                               tzinfo=SHANGHAI))
    assert services.expire_ended_subscriptions() == 1
    subscription.refresh_from_db()
    assert subscription.status == "expired"


def test_overage_cap_change_is_audited(subscription_a, store_a, owner_a):
    from audit.models import AuditEvent

    services.set_daily_overage_cap(store_a, 100, by=owner_a)
    event = AuditEvent.unscoped.get(action="subscription.overage_cap")
    assert (event.actor, event.details["before"], event.details["after"]) == (owner_a, None, 100)
    with translation.override("en"):
        assert event.get_action_display() == "Daily overage cap changed"


def test_pack_versions_are_numbered_per_pack(pack):
    other = services.create_pack(code="pro", name="Pro", terms=services.STANDARD_TERMS, by=None)
    assert QuotaPackVersion.objects.get(pack=other).number == 1
