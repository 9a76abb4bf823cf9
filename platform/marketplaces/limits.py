"""Marketplace request limits shared by every worker on every machine, kept in Redis.

- Each store may make MARKETPLACE_DAILY_REQUEST_BUDGET requests per day (Temu: 5,000); the day
  is the tenant's local day. Checking and counting is one Lua script, so concurrent workers can
  never overspend it.
- Each app key may make MARKETPLACE_APP_REQUESTS_PER_SECOND requests per second (Temu starts at
  20). A sliding one-second window on Redis's clock; callers wait briefly for a free slot.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from django.conf import settings

from marketplaces.connectors.base import MarketplaceError
from portal.shared_redis import shared_redis

KEY_PREFIX = "marketplace-limits:"
BUDGET_KEY_TTL_SECONDS = 2 * 24 * 3600  # outlives the local day in every time zone

# Returns the budget left after counting this request, or -1 (and counts nothing) when spent.
_SPEND_ONE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local budget = tonumber(ARGV[1])
if used >= budget then return -1 end
used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return budget - used
"""

# Sliding window log in microseconds of Redis's own clock (one clock for every machine).
# Returns {1, granted_at_us} or {0, microseconds until the oldest call leaves the window}.
_TAKE_SLOT = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_us - 1000000)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now_us, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], 2000)
  return {1, now_us}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + 1000000 - now_us}
"""

_redis = shared_redis  # one pool per process, shared with generation


def _zone(time_zone: str | tzinfo) -> tzinfo:
    return ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone


def _budget_key(store_key: str, time_zone: str | tzinfo) -> str:
    local_day = datetime.now(_zone(time_zone)).date().isoformat()
    return f"{KEY_PREFIX}budget:{store_key}:{local_day}"


def spend_daily_request(store_key: str, time_zone: str | tzinfo) -> int:
    """Count one request against the store's budget for today; returns what is left.

    Raises MarketplaceError(ERR_DAILY_REQUEST_BUDGET) and counts nothing when it is spent."""
    left = int(_redis().eval(_SPEND_ONE, 1, _budget_key(store_key, time_zone),
                             settings.MARKETPLACE_DAILY_REQUEST_BUDGET, BUDGET_KEY_TTL_SECONDS))
    if left < 0:
        raise MarketplaceError("ERR_DAILY_REQUEST_BUDGET",
                               f"store {store_key} used its daily request budget")
    return left


def remaining_daily_budget(store_key: str, time_zone: str | tzinfo) -> int:
    """Requests the store may still make today (its local day), for the portal."""
    return remaining_daily_budgets([(store_key, time_zone)])[0]


def remaining_daily_budgets(stores: Sequence[tuple[str, str | tzinfo]]) -> list[int]:
    """remaining_daily_budget of each (store key, time zone), in one Redis round trip."""
    if not stores:
        return []
    used = _redis().mget([_budget_key(store_key, zone) for store_key, zone in stores])
    budget = settings.MARKETPLACE_DAILY_REQUEST_BUDGET
    return [max(budget - int(value or 0), 0) for value in used]


def take_app_slot(marketplace: str, app_key: str, max_wait: float | None = None) -> int:
    """Wait (at most `max_wait` seconds) for a free slot in the app's per-second window.

    Returns the moment the slot was granted (microseconds, Redis clock). Raises a retryable
    MarketplaceError(ERR_MARKETPLACE_RATE_LIMITED) when no slot frees up in time."""
    limit = settings.MARKETPLACE_APP_REQUESTS_PER_SECOND
    max_wait = settings.MARKETPLACE_APP_SLOT_WAIT_SECONDS if max_wait is None else max_wait
    key = f"{KEY_PREFIX}rate:{marketplace}:{app_key}"
    deadline = time.monotonic() + max_wait
    while True:
        granted, value = _redis().eval(_TAKE_SLOT, 1, key, limit, uuid.uuid4().hex)
        if granted:
            return int(value)
        wait = int(value) / 1_000_000
        if time.monotonic() + wait > deadline:
            raise MarketplaceError("ERR_MARKETPLACE_RATE_LIMITED",
                                   f"no free request slot for {marketplace} app {app_key}",
                                   retryable=True)
        time.sleep(max(wait, 0.001))


def clear_all() -> None:
    """Forget every budget and window (tests and the sandbox demo only)."""
    client = _redis()
    keys = list(client.scan_iter(match=f"{KEY_PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)
