"""Billing fixtures: the standard pack, stores and their subscriptions, a controllable clock."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from django.utils import timezone

from billing import services
from billing.models import QuotaPack, StoreSubscription
from stores.models import Store
from tenants.models import Tenant, User

_shop = itertools.count(1)


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
