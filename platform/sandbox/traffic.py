"""The sandbox's listing traffic: what a marketplace's performance report would say.

Per listing (shop id, goods id), drawn deterministically from the pair:
- a base daily impression level (log-normal, median 800 a day), a base CTR (log-normal around
  2%), a CVR (log-normal around 5%), an add-to-cart rate and an average order value;
- a weekly cycle (weekends busier), binomial daily noise on clicks, carts and orders, and
  occasional outlier days (a promotion: 2.5x impressions and a 25% higher CTR, about 3% of days);
- after the listing's first AI-assisted publish, a true CTR effect drawn once per listing:
  mostly none or small, some large, some negative (`EFFECT_MIX`). The publish day itself gets
  half of it, every later day all of it.

The truth (profile and effect) is exposed only on the debug endpoint
`POST /__sandbox__/traffic-truth {"shop_id": .., "goods_id": ..}`, never in the performance APIs.

The sandbox clock: `today()` is the real date in China time plus `offset_days`, moved with
`POST /__sandbox__/clock {"advance_days": n}` (or `{"offset_days": n}`, `{"reset": true}`), so
tests and the demo can run 60 days in seconds. The performance APIs answer days up to yesterday
on that clock; a publish is dated on it too (the update records carry "day").

`draw_days` is the one noise model: the HTTP APIs call it per (listing, day) with a seed of
their own, the attribution benchmark calls it for many simulated listings at once.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

TEMU_PERFORMANCE = "bg.local.goods.performance.query"
ALIEXPRESS_PERFORMANCE = "aliexpress.solution.product.performance.get"
MAX_GOODS_PER_CALL = 100
MAX_DAYS_PER_CALL = 31

# Monday .. Sunday: impressions, and a slight CTR swing.
WEEKLY_IMPRESSIONS = np.array([0.95, 0.92, 0.94, 0.98, 1.04, 1.12, 1.05])
WEEKLY_CTR = np.array([1.00, 0.99, 0.99, 1.00, 1.01, 1.02, 1.01])
OUTLIER_RATE = 0.03
OUTLIER_IMPRESSIONS = 2.5
OUTLIER_CTR = 1.25

# (share, kind): none, small (N(+5%, 4%)), large (+20..+60%), negative (-30..-5%).
EFFECT_MIX = ((0.50, "none"), (0.30, "small"), (0.12, "large"), (0.08, "negative"))

REPORT_ZONE = ZoneInfo("Asia/Shanghai")
_clock_lock = threading.Lock()
_offset_days = 0


# -- the clock -------------------------------------------------------------------------------

def today() -> date:
    """The report day in China time (the seller centers' day), moved by the clock's offset."""
    return datetime.now(REPORT_ZONE).date() + timedelta(days=_offset_days)


def offset_days() -> int:
    return _offset_days


def set_offset(days: int) -> date:
    global _offset_days
    with _clock_lock:
        _offset_days = int(days)
    return today()


def advance(days: int) -> date:
    return set_offset(_offset_days + int(days))


# -- the truth -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Profile:
    impressions_per_day: float
    ctr: float
    cvr: float
    add_to_cart_rate: float  # of clicks
    order_value: float
    effect_kind: str
    true_lift: float  # relative CTR change after the first AI publish


def _seed(*parts: Any) -> int:
    digest = hashlib.sha256(":".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def profile(shop_id: str, goods_id: int | str) -> Profile:
    rng = np.random.default_rng(_seed("profile", shop_id, goods_id))
    impressions = float(np.clip(rng.lognormal(np.log(800), 1.1), 20, 200_000))
    ctr = float(np.clip(rng.lognormal(np.log(0.02), 0.4), 0.002, 0.15))
    cvr = float(np.clip(rng.lognormal(np.log(0.05), 0.4), 0.005, 0.3))
    cart = float(min(cvr * rng.uniform(2.0, 3.5), 0.6))
    order_value = float(np.clip(rng.lognormal(np.log(18), 0.6), 2, 500))
    kind, lift = draw_effect(rng)
    return Profile(impressions, ctr, cvr, cart, order_value, kind, lift)


def draw_effect(rng: np.random.Generator) -> tuple[str, float]:
    u, cumulative = rng.uniform(), 0.0
    kind = EFFECT_MIX[-1][1]
    for share, name in EFFECT_MIX:
        cumulative += share
        if u < cumulative:
            kind = name
            break
    if kind == "none":
        return kind, 0.0
    if kind == "small":
        return kind, float(rng.normal(0.05, 0.04))
    if kind == "large":
        return kind, float(rng.uniform(0.20, 0.60))
    return kind, float(rng.uniform(-0.30, -0.05))


# -- the noise model -------------------------------------------------------------------------

def draw_days(rng: np.random.Generator, impressions_per_day: np.ndarray, ctr: np.ndarray,
              cvr: np.ndarray, cart_rate: np.ndarray, weekdays: np.ndarray,
              lift: np.ndarray) -> dict[str, np.ndarray]:
    """Counts for arrays of listing-days (all arguments broadcast to one shape): impressions
    Poisson around the weekly level, clicks, carts and orders binomial; `lift` multiplies the
    CTR (0 before the publish)."""
    shape = np.broadcast_shapes(np.shape(impressions_per_day), np.shape(ctr), np.shape(weekdays),
                                np.shape(lift))
    outlier = rng.uniform(size=shape) < OUTLIER_RATE
    level = impressions_per_day * WEEKLY_IMPRESSIONS[weekdays] \
        * np.where(outlier, OUTLIER_IMPRESSIONS, 1.0)
    impressions = rng.poisson(level)
    day_ctr = np.clip(ctr * WEEKLY_CTR[weekdays] * np.where(outlier, OUTLIER_CTR, 1.0)
                      * (1.0 + lift), 0.0, 0.95)
    clicks = rng.binomial(impressions, day_ctr)
    carts = rng.binomial(clicks, np.broadcast_to(cart_rate, shape))
    orders = rng.binomial(carts, np.clip(np.broadcast_to(cvr / cart_rate, shape), 0, 1))
    return {"impressions": impressions, "clicks": clicks, "add_to_cart": carts,
            "orders": orders}


def publish_days(updates: list[dict[str, Any]], shop_id: str) -> dict[int, date]:
    """The first AI-assisted publish day (sandbox clock) of each goods id of a shop."""
    first: dict[int, date] = {}
    for update in updates:
        if update.get("shop_id") != shop_id or not update.get("ai_assisted") \
                or not update.get("day"):
            continue
        goods = int(update["goods_id"])
        day = date.fromisoformat(update["day"])
        if goods not in first or day < first[goods]:
            first[goods] = day
    return first


@dataclass(frozen=True)
class DayStats:
    goods_id: int
    day: date
    impressions: int
    clicks: int
    add_to_cart: int
    orders: int
    gmv: Decimal


def listing_days(shop_id: str, goods_id: int, days: list[date], published: date | None
                 ) -> list[DayStats]:
    """The listing's counts on each day; the same answer for the same day on every call."""
    truth = profile(shop_id, goods_id)
    rows = []
    for day in days:
        rng = np.random.default_rng(_seed("day", shop_id, goods_id, day.isoformat()))
        lift = 0.0
        if published is not None and day >= published:
            lift = truth.true_lift * (0.5 if day == published else 1.0)
        counts = draw_days(rng, np.array(truth.impressions_per_day), np.array(truth.ctr),
                           np.array(truth.cvr), np.array(truth.add_to_cart_rate),
                           np.array(day.weekday()), np.array(lift))
        orders = int(counts["orders"])
        value = rng.normal(truth.order_value, truth.order_value * 0.1, size=orders).clip(1).sum()
        rows.append(DayStats(goods_id, day, int(counts["impressions"]), int(counts["clicks"]),
                             int(counts["add_to_cart"]), orders,
                             Decimal(f"{value:.2f}")))
    return rows


class BadQuery(ValueError):
    """The performance query is malformed (the handlers answer with a parameter error)."""


def query(updates: list[dict[str, Any]], shop_id: str, sku_count: int, goods_ids: Any,
          start: Any, end: Any, index_for: Any) -> list[DayStats]:
    """Rows for the goods ids and the days start..end (inclusive), checked as a gateway would:
    at most MAX_GOODS_PER_CALL goods and MAX_DAYS_PER_CALL days, ending before today."""
    if not isinstance(goods_ids, list) or not 1 <= len(goods_ids) <= MAX_GOODS_PER_CALL:
        raise BadQuery(f"1..{MAX_GOODS_PER_CALL} goods ids required")
    try:
        first, last = date.fromisoformat(str(start)), date.fromisoformat(str(end))
    except ValueError as error:
        raise BadQuery("dates must be YYYY-MM-DD") from error
    if last < first or (last - first).days >= MAX_DAYS_PER_CALL:
        raise BadQuery(f"a range of 1..{MAX_DAYS_PER_CALL} days required")
    if last >= today():
        raise BadQuery("data is available up to yesterday")
    published = publish_days(updates, shop_id)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    rows: list[DayStats] = []
    for goods in goods_ids:
        index = index_for(shop_id, int(goods)) if str(goods).isdigit() else None
        if index is None or index >= sku_count:
            continue  # unknown goods: no rows, as the real report
        rows.extend(listing_days(shop_id, int(goods), days, published.get(int(goods))))
    return rows


def truth(updates: list[dict[str, Any]], shop_id: str, goods_id: int) -> dict[str, Any]:
    published = publish_days(updates, shop_id).get(int(goods_id))
    return {"shop_id": shop_id, "goods_id": int(goods_id), **asdict(profile(shop_id, goods_id)),
            "published_on": published.isoformat() if published else None,
            "today": today().isoformat()}


def control(updates: list[dict[str, Any]], method: str, name: str, payload: dict[str, Any]
            ) -> Any:
    """The debug endpoints; None when `name` is not one of them."""
    if method == "GET" and name == "clock":
        return {"today": today().isoformat(), "offset_days": offset_days()}
    if method == "POST" and name == "clock":
        if payload.get("reset"):
            set_offset(0)
        elif "offset_days" in payload:
            set_offset(int(payload["offset_days"]))
        else:
            advance(int(payload.get("advance_days", 1)))
        return {"today": today().isoformat(), "offset_days": offset_days()}
    if method == "POST" and name == "traffic-truth":
        return truth(updates, str(payload["shop_id"]), int(payload["goods_id"]))
    return None
