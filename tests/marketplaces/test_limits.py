"""The shared request limits in Redis, under concurrency. No timing assertions: the per-second
window is checked on the grant times Redis itself reports."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from marketplaces import limits
from marketplaces.connectors import MarketplaceError


@pytest.fixture
def store_key() -> str:
    return f"test-store-{uuid.uuid4().hex}"


def test_daily_budget_allows_exactly_the_budget_across_threads(store_key, settings):
    assert settings.MARKETPLACE_DAILY_REQUEST_BUDGET == 5000
    refused = threading.Event()
    counts: list[int] = []

    def worker() -> int:
        allowed = 0
        while True:
            try:
                limits.spend_daily_request(store_key, "Asia/Shanghai")
            except MarketplaceError as error:
                assert error.code == "ERR_DAILY_REQUEST_BUDGET"
                refused.set()
                return allowed
            allowed += 1

    with ThreadPoolExecutor(max_workers=16) as executor:
        counts = list(executor.map(lambda _: worker(), range(16)))

    assert sum(counts) == 5000
    assert refused.is_set()
    assert limits.remaining_daily_budget(store_key, "Asia/Shanghai") == 0
    with pytest.raises(MarketplaceError):
        limits.spend_daily_request(store_key, "Asia/Shanghai")
    assert limits.remaining_daily_budget(store_key, "Asia/Shanghai") == 0  # refusals not counted


def test_spending_reports_what_is_left(store_key, settings):
    settings.MARKETPLACE_DAILY_REQUEST_BUDGET = 3
    assert limits.remaining_daily_budget(store_key, "UTC") == 3
    assert [limits.spend_daily_request(store_key, "UTC") for _ in range(3)] == [2, 1, 0]
    assert limits.remaining_daily_budget(store_key, "UTC") == 0


def test_the_budget_day_is_the_tenants_local_day(store_key, settings):
    # UTC+14 and UTC-11 are never on the same date: two different budget days, always.
    settings.MARKETPLACE_DAILY_REQUEST_BUDGET = 2
    limits.spend_daily_request(store_key, "Pacific/Kiritimati")
    limits.spend_daily_request(store_key, "Pacific/Kiritimati")
    with pytest.raises(MarketplaceError):
        limits.spend_daily_request(store_key, "Pacific/Kiritimati")

    assert limits.remaining_daily_budget(store_key, "Pacific/Pago_Pago") == 2
    limits.spend_daily_request(store_key, "Pacific/Pago_Pago")


def test_budget_keys_expire_after_about_two_days(store_key):
    limits.spend_daily_request(store_key, "Asia/Shanghai")
    client = limits._redis()
    [key] = list(client.scan_iter(match=f"{limits.KEY_PREFIX}budget:{store_key}:*"))
    assert 24 * 3600 < client.ttl(key) <= 2 * 24 * 3600


def test_budgets_are_per_store(settings):
    settings.MARKETPLACE_DAILY_REQUEST_BUDGET = 1
    limits.spend_daily_request("store-one-" + uuid.uuid4().hex, "UTC")
    limits.spend_daily_request("store-two-" + uuid.uuid4().hex, "UTC")


def test_per_second_window_is_never_exceeded_across_threads(settings):
    settings.MARKETPLACE_APP_REQUESTS_PER_SECOND = 5
    app_key = f"app-{uuid.uuid4().hex}"

    with ThreadPoolExecutor(max_workers=12) as executor:
        granted = sorted(executor.map(
            lambda _: limits.take_app_slot("temu", app_key, max_wait=10), range(12)))

    # Any 6 consecutive grants span at least one second of Redis's clock.
    assert all(later - earlier >= 1_000_000 for earlier, later in zip(granted, granted[5:],
                                                                      strict=False))


def test_no_free_slot_in_time_is_a_retryable_rate_limit(settings):
    settings.MARKETPLACE_APP_REQUESTS_PER_SECOND = 3
    app_key = f"app-{uuid.uuid4().hex}"
    first = limits.take_app_slot("temu", app_key, max_wait=0)
    limits.take_app_slot("temu", app_key, max_wait=0)
    limits.take_app_slot("temu", app_key, max_wait=0)

    try:
        fourth = limits.take_app_slot("temu", app_key, max_wait=0)
    except MarketplaceError as error:
        assert (error.code, error.retryable) == ("ERR_MARKETPLACE_RATE_LIMITED", True)
    else:  # only possible when this test was paused for a second: then the window moved on
        assert fourth - first >= 1_000_000


def test_app_keys_and_marketplaces_have_their_own_windows(settings):
    settings.MARKETPLACE_APP_REQUESTS_PER_SECOND = 1
    app_key = f"app-{uuid.uuid4().hex}"
    limits.take_app_slot("temu", app_key, max_wait=0)
    limits.take_app_slot("aliexpress", app_key, max_wait=0)
    limits.take_app_slot("temu", app_key + "-other", max_wait=0)


def test_clear_all_forgets_budgets_and_windows(store_key, settings):
    settings.MARKETPLACE_DAILY_REQUEST_BUDGET = 1
    limits.spend_daily_request(store_key, "UTC")
    limits.clear_all()
    assert limits.remaining_daily_budget(store_key, "UTC") == 1
