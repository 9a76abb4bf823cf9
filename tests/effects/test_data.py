"""Listing performance: the sandbox's traffic, reading it through the connectors within the
request budget, the monthly partitions, and the daily schedule."""

from __future__ import annotations

import json
import urllib.request
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection
from django.urls import reverse
from django_q.models import Schedule

from effects import partitions, services
from effects.models import DailyPerformance, EffectListing
from marketplaces.connectors import DailyPerformance as Row
from marketplaces.connectors import MarketplaceError
from sandbox import pool, shops, traffic
from stores.services import connector_for_store
from tenants.scope import tenant_scope
from tests.conftest import english_client
from tests.effects.conftest import publish_items

SHOP = shops.TEMU_SHOP_300
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


def goods(index: int) -> int:
    return pool.goods_id_for(SHOP, index)


# -- the sandbox's traffic -------------------------------------------------------------------

def test_traffic_is_deterministic_per_listing_and_day():
    days = [date(2026, 3, 1) + timedelta(days=n) for n in range(10)]
    first = traffic.listing_days(SHOP, goods(1), days, None)
    again = traffic.listing_days(SHOP, goods(1), days[3:5], None)
    assert first[3:5] == again
    assert traffic.profile(SHOP, goods(1)) == traffic.profile(SHOP, goods(1))
    assert traffic.listing_days(SHOP, goods(2), days, None) != first


def test_true_effects_are_mostly_none_or_small_some_large_some_negative():
    kinds = [traffic.profile(SHOP, goods(i)).effect_kind for i in range(300)]
    shares = {kind: kinds.count(kind) / len(kinds) for kind in set(kinds)}
    assert shares["none"] + shares["small"] > 0.6
    assert 0.04 < shares["large"] < 0.25 and 0.02 < shares["negative"] < 0.2
    lifts = [traffic.profile(SHOP, goods(i)).true_lift for i in range(300)]
    assert min(lifts) < -0.05 and max(lifts) > 0.2


def test_traffic_has_a_weekly_cycle_noise_and_promotion_days():
    rng = np.random.default_rng(1)
    weekdays = np.tile(np.arange(7), 400)
    drawn = traffic.draw_days(rng, np.array(5000.0), np.array(0.02), np.array(0.05),
                              np.array(0.15), weekdays, np.array(0.0))
    by_day = [drawn["impressions"][weekdays == d].mean() for d in range(7)]
    assert by_day[5] > by_day[1] * 1.1  # Saturday busier than Tuesday
    impressions = drawn["impressions"]
    assert (impressions > 5000 * 2).mean() > 0.01  # promotion days
    ctr = drawn["clicks"] / impressions
    assert 0.015 < np.median(ctr) < 0.025 and ctr.std() > 0


def test_the_effect_starts_with_the_publish():
    listing = next(i for i in range(300) if traffic.profile(SHOP, goods(i)).true_lift > 0.3)
    gid = goods(listing)
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(120)]
    published = days[60]
    rows = traffic.listing_days(SHOP, gid, days, published)
    before = sum(r.clicks for r in rows[:60]) / sum(r.impressions for r in rows[:60])
    after = sum(r.clicks for r in rows[61:]) / sum(r.impressions for r in rows[61:])
    assert after / before > 1.15
    # Without the publish the same days carry no lift.
    assert traffic.listing_days(SHOP, gid, days[:60], None) == rows[:60]


def _post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 (local sandbox)
        return json.loads(answer.read())


def test_the_truth_and_the_clock_are_only_on_the_debug_endpoints(sandbox):
    moved = _post(sandbox.url + "/__sandbox__/clock", {"advance_days": 60})
    assert moved["offset_days"] == 60
    assert date.fromisoformat(moved["today"]) == traffic.today()
    truth = _post(sandbox.url + "/__sandbox__/traffic-truth",
                  {"shop_id": SHOP, "goods_id": goods(3)})
    assert truth["true_lift"] == traffic.profile(SHOP, goods(3)).true_lift
    assert truth["published_on"] is None
    _post(sandbox.url + "/__sandbox__/clock", {"reset": True})
    assert traffic.offset_days() == 0


def test_the_performance_api_refuses_today_and_long_ranges(sandbox_desk):
    with tenant_scope(sandbox_desk.tenant):
        connector = connector_for_store(sandbox_desk.store)
        today = traffic.today()
        with pytest.raises(MarketplaceError):
            connector.daily_performance([str(goods(0))], today, today)
        with pytest.raises(MarketplaceError):
            connector.daily_performance([str(goods(0))], today - timedelta(days=40),
                                        today - timedelta(days=1))
        rows = connector.daily_performance([str(goods(0)), str(goods(1))],
                                           today - timedelta(days=3), today - timedelta(days=1))
    assert len(rows) == 6
    assert {row.marketplace_id for row in rows} == {str(goods(0)), str(goods(1))}
    truth_rows = traffic.listing_days(SHOP, goods(0), [today - timedelta(days=3)], None)
    first = next(r for r in rows if r.marketplace_id == str(goods(0)))
    assert (first.impressions, first.clicks, first.gmv) == (
        truth_rows[0].impressions, truth_rows[0].clicks, truth_rows[0].gmv)


# -- reading it into the platform ----------------------------------------------------------

def test_publish_back_fills_the_baseline_then_reads_each_new_day(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    publish_items(sandbox_desk, [0, 1, 2], django_capture_on_commit_callbacks)
    store = sandbox_desk.store
    with tenant_scope(sandbox_desk.tenant):
        assert services.register_listings(store) == 3
        assert services.register_listings(store) == 0  # once per goods id
        listing = EffectListing.objects.get(marketplace_id=str(goods(0)))
        assert listing.publish_day == traffic.today()
        traffic.advance(10)
        through = traffic.today() - timedelta(days=1)
        before = len(sandbox.state.requests)
        result = services.sync_store(store, through=through)
        assert result.stopped == ""
        # 28 baseline days + the publish day + 9 days after: 38 days, under 2 requests.
        assert result.requests == 2
        assert len(sandbox.state.requests) - before == 2
        assert DailyPerformance.objects.filter(store=store).count() == 3 * 38
        traffic.advance(1)
        result = services.sync_store(store, through=through + timedelta(days=1))
        assert result.requests == 1 and result.rows == 3
        # The platform's rows are the marketplace's numbers.
        row = DailyPerformance.objects.get(marketplace_id=str(goods(1)), day=through)
    published = traffic.publish_days(sandbox.state.updates, SHOP)[goods(1)]
    truth = traffic.listing_days(SHOP, goods(1), [through], published)[0]
    assert (row.impressions, row.clicks, row.orders, row.gmv) == (
        truth.impressions, truth.clicks, truth.orders, truth.gmv)


def test_reading_stops_at_the_reserve_of_the_daily_budget_and_goes_on_later(
        sandbox_desk, sandbox, settings, django_capture_on_commit_callbacks):
    publish_items(sandbox_desk, [0], django_capture_on_commit_callbacks)
    store = sandbox_desk.store
    from marketplaces import limits

    with tenant_scope(sandbox_desk.tenant):
        services.register_listings(store)
        traffic.advance(10)  # 28 + 10 days: two requests of at most 31 days
        spent = settings.MARKETPLACE_DAILY_REQUEST_BUDGET - limits.remaining_daily_budget(
            store.budget_key, sandbox_desk.tenant.time_zone)
        settings.EFFECT_REQUEST_RESERVE = settings.MARKETPLACE_DAILY_REQUEST_BUDGET - spent - 1
        result = services.sync_store(store, through=traffic.today() - timedelta(days=1))
        assert result.requests == 1 and result.stopped == "ERR_DAILY_REQUEST_BUDGET"
        listing = EffectListing.objects.get()
        assert listing.synced_through is None  # unfinished: read again next time
        settings.EFFECT_REQUEST_RESERVE = 0
        result = services.sync_store(store, through=traffic.today() - timedelta(days=1))
        assert result.stopped == "" and result.listings_done == 1
        assert DailyPerformance.objects.filter(store=store).count() == 28 + 10


def test_an_expired_token_stops_the_read_and_marks_the_store(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    publish_items(sandbox_desk, [0], django_capture_on_commit_callbacks)
    store = sandbox_desk.store
    with tenant_scope(sandbox_desk.tenant):
        services.register_listings(store)
        sandbox.state.expire_tokens(SHOP)
        result = services.sync_store(store, through=traffic.today() - timedelta(days=1))
        store.refresh_from_db()
    assert result.stopped == "ERR_TOKEN_EXPIRED"
    assert store.status == store.Status.TOKEN_EXPIRED


def test_a_token_granted_before_the_performance_report_leaves_the_store_working(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    """Seen in the demo: a store authorized before the platform read performance was marked
    'permission denied' by the first daily read, which stopped its generation and publishing."""
    publish_items(sandbox_desk, [0], django_capture_on_commit_callbacks)
    store = sandbox_desk.store
    api = connector_for_store(store).performance_api
    old_scopes = [scope for scope in store.token_scopes if scope != api]
    type(store).unscoped.filter(pk=store.pk).update(token_scopes=old_scopes)
    store.refresh_from_db()
    status = store.status
    with tenant_scope(sandbox_desk.tenant):
        services.register_listings(store)
        traffic.advance(3)
        before = len(sandbox.state.requests)
        result = services.sync_store(store, through=traffic.today() - timedelta(days=1))
    assert result.stopped == services.PERFORMANCE_NOT_AUTHORIZED
    assert len(sandbox.state.requests) == before  # not even asked
    store.refresh_from_db()
    assert store.status == status
    client = english_client(sandbox_desk.owner, sandbox_desk.tenant)
    page = client.get(reverse("effects_store", args=[store.pk])).content.decode()
    assert services.PERFORMANCE_NOT_AUTHORIZED in page and "Re-authorize the store" in page


def test_a_refused_performance_call_does_not_mark_the_store(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    """The marketplace refusing this one report (its permission withdrawn) is no reason to
    stop the store's other calls: the store keeps its status."""
    publish_items(sandbox_desk, [0], django_capture_on_commit_callbacks)
    store = sandbox_desk.store
    api = connector_for_store(store).performance_api
    for token in sandbox.state.tokens.values():
        token.scopes = tuple(scope for scope in token.scopes if scope != api)
    status = store.status
    with tenant_scope(sandbox_desk.tenant):
        services.register_listings(store)
        traffic.advance(3)
        result = services.sync_store(store, through=traffic.today() - timedelta(days=1))
        store.refresh_from_db()
    assert result.stopped == "ERR_TEMU_403"
    assert store.status == status


# -- storage -------------------------------------------------------------------------------

def _rows(gid: str, first: date, days: int) -> list[Row]:
    return [Row(marketplace_id=gid, day=first + timedelta(days=n), impressions=100 + n,
                clicks=2, add_to_cart=1, orders=1, gmv=Decimal("12.50"), currency="USD")
            for n in range(days)]


def test_rows_land_in_monthly_partitions_and_a_second_report_replaces_the_first(desk):
    with tenant_scope(desk.tenant):
        services.ingest_rows(desk.store, _rows("42", date(2026, 1, 20), 20))
        services.ingest_rows(desk.store, [Row("42", date(2026, 2, 1), 999, 9, 0, 0,
                                              Decimal("0.00"), "USD")])
        assert DailyPerformance.objects.filter(store=desk.store).count() == 20
        assert DailyPerformance.objects.get(day=date(2026, 2, 1)).impressions == 999
    names = partitions.existing_partitions()
    assert {"effects_dailyperformance_y2026m01", "effects_dailyperformance_y2026m02"} <= names
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM effects_dailyperformance_default")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM effects_dailyperformance_y2026m01")
        assert cursor.fetchone()[0] == 12
        cursor.execute("SELECT partstrat FROM pg_partitioned_table p JOIN pg_class c "
                       "ON c.oid = p.partrelid WHERE c.relname = 'effects_dailyperformance'")
        assert cursor.fetchone()[0] == "r"  # range


def test_performance_rows_are_tenant_scoped(desk, tenant_b):
    with tenant_scope(desk.tenant):
        services.ingest_rows(desk.store, _rows("7", date(2026, 5, 1), 3))
    with tenant_scope(tenant_b):
        assert DailyPerformance.objects.count() == 0
        with pytest.raises(ValueError):
            services.ingest_rows(desk.store, _rows("7", date(2026, 5, 1), 1))


def test_the_daily_schedule_is_installed():
    schedule = Schedule.objects.get(func="effects.services.sync_all_stores")
    assert schedule.schedule_type == Schedule.DAILY and schedule.repeats == -1


def test_the_schedule_reads_every_store_with_published_ai_content(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    publish_items(sandbox_desk, [0, 1], django_capture_on_commit_callbacks)
    traffic.advance(2)
    totals = services.sync_all_stores(through=traffic.today() - timedelta(days=1))
    assert totals == {"stores": 1, "requests": 1, "rows": 2 * 30, "failed": 0}
    with tenant_scope(sandbox_desk.tenant):
        assert EffectListing.objects.filter(verdict__isnull=False).count() == 2


def test_the_command_reads_one_store_through_a_given_day(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    from io import StringIO

    from django.core.management import CommandError, call_command

    publish_items(sandbox_desk, [0], django_capture_on_commit_callbacks)
    traffic.advance(60)
    out = StringIO()
    through = traffic.today() - timedelta(days=1)
    call_command("sync_listing_performance", "--store", str(sandbox_desk.store.pk),
                 "--through", through.isoformat(), stdout=out)
    assert "1 listings judged" in out.getvalue()
    with tenant_scope(sandbox_desk.tenant):
        assert DailyPerformance.objects.count() == 28 + 60
    with pytest.raises(CommandError):
        call_command("sync_listing_performance", "--through", "yesterday")
