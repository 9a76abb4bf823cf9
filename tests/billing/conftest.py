"""Billing fixtures: the standard pack, stores and their subscriptions, a controllable clock."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from billing import quota, services
from billing.models import QuotaPack, StoreSubscription
from stores.models import Store
from tenants.models import Tenant, User

_shop = itertools.count(1)
SHANGHAI = ZoneInfo("Asia/Shanghai")
SMALL = services.PackTerms(licence_price_per_year=Decimal("2880.00"), included_calls_per_day=2,
                           overage_price_per_call=Decimal("0.80"), sku_limit=5000,
                           marketplaces=("aliexpress", "temu"))


def make_store(tenant: Tenant, user: User, name: str = "", site_code: str = "temu-us") -> Store:
    number = next(_shop)
    return Store.unscoped.create(tenant=tenant, site_code=site_code, created_by=user,
                                 display_name=name or f"Shop {number}", shop_id=f"shop-{number}")


@pytest.fixture
def pack(db) -> QuotaPack:
    return services.create_pack(code="standard", name="Standard",
                                terms=services.STANDARD_TERMS, by=None)


@pytest.fixture
def store_a(tenant_a, owner_a) -> Store:
    return make_store(tenant_a, owner_a, "Alpha Temu US")


@pytest.fixture
def subscription_a(store_a, pack) -> StoreSubscription:
    return services.subscribe_store(store_a, pack, by=None)


class Clock:
    """Sets what django.utils.timezone.now() answers (a library function, not our code)."""

    def __init__(self, monkeypatch):
        self._monkeypatch = monkeypatch

    def set(self, moment: datetime) -> None:
        assert timezone.is_aware(moment)
        self._monkeypatch.setattr(timezone, "now", lambda: moment)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def stripe_api():
    """The local Stripe stand-in (a real HTTP server), stopped after the test."""
    from tests.billing import stripe_server

    server = stripe_server.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


WEBHOOK_SECRET = "whsec_test_local_secret"


@pytest.fixture
def stripe_online(settings, stripe_api):
    """Online billing against the stand-in: no library retries, short timeouts."""
    settings.STRIPE_SECRET_KEY = "sk_test_local"
    settings.STRIPE_API_BASE = stripe_api.url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_LICENCE_PRICE_ID = "price_licence_yearly"
    settings.STRIPE_METER_EVENT_NAME = "ai_calls_overage"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT_SECONDS = 0.5
    return stripe_api


@pytest.fixture
def stripe_offline(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""
    settings.STRIPE_LICENCE_PRICE_ID = "price_licence_yearly"


def spend(clock, store, moment: datetime, calls: int, tag: str) -> None:
    clock.set(moment)
    for n in range(calls):
        quota.reserve_call(store, f"{tag}-{store.pk}-{n}")
        quota.settle_call(f"{tag}-{store.pk}-{n}")


@pytest.fixture
def small_pack(db):
    return services.create_pack(code="small", name="Small", terms=SMALL, by=None)


@pytest.fixture
def march(tenant_a, owner_a, small_pack, clock):
    """Store 1: v1 (0.80) from 1 March, 2 included + 3 overage on 5 March; then cancelled and
    subscribed again on v2 (1.25, licence 3000.00) from 10 March: 2 included + 2 overage.
    Store 2: a trial (no licence) with 1 included call on 31 March at 23:30 Shanghai.
    One overage call on 1 April (not March)."""
    clock.set(datetime(2026, 3, 5, 9, tzinfo=SHANGHAI))
    one = make_store(tenant_a, owner_a, "Alpha One")
    two = make_store(tenant_a, owner_a, "Alpha Two")
    first = services.subscribe_store(one, small_pack, by=None, starts_on=date(2026, 3, 1))
    spend(clock, one, datetime(2026, 3, 5, 10, tzinfo=SHANGHAI), 5, "a")
    services.cancel_subscription(first, by=None)
    services.publish_pack_terms(small_pack, services.PackTerms(
        **{**SMALL.__dict__, "licence_price_per_year": Decimal("3000.00"),
           "overage_price_per_call": Decimal("1.25")}), by=None)
    clock.set(datetime(2026, 3, 10, 9, tzinfo=SHANGHAI))
    services.subscribe_store(one, small_pack, by=None, starts_on=date(2026, 3, 10))
    spend(clock, one, datetime(2026, 3, 10, 10, tzinfo=SHANGHAI), 4, "b")
    services.subscribe_store(two, small_pack, by=None, status="trial",
                             starts_on=date(2026, 3, 31))
    spend(clock, two, datetime(2026, 3, 31, 23, 30, tzinfo=SHANGHAI), 1, "c")
    spend(clock, one, datetime(2026, 4, 1, 0, 30, tzinfo=SHANGHAI), 3, "d")
    return {"one": one, "two": two}
