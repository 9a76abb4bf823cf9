"""`manage.py benchmark_attribution`: how often the verdicts are right, against the sandbox's
ground truth, and how fast ingest and attribution run on PostgreSQL.

- Accuracy: for each traffic level (impressions a day) and true lift (0, +30%, +50%), many
  simulated listings drawn with the sandbox's own noise model (sandbox.traffic.draw_days: weekly
  cycle, promotion days, binomial noise) at a baseline CTR of 2% and CVR of 5%; each judged by
  effects.attribution with the configured rule. `false_positive_rate` is the share called
  effective at lift 0, `power_30` / `power_50` the share called effective at +30% / +50%;
  `rule_*` the same for the bare marketplace rule, `stats_*` for the statistics alone
  (significant with enough data, whatever the rule says).
- Speed: `ingest_seconds` writes 5,000 listings x 30 days through effects.services.ingest_rows
  (COPY into a staging table, one upsert into the partitioned table); `attribution_seconds`
  judges that store's 5,000 listings through effects.services.attribute_store (load, judge,
  save). Both on a throw-away tenant that is deleted afterwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from effects.attribution import (
    EFFECTIVE,
    NOT_ENOUGH_DATA,
    Counts,
    RuleSettings,
    attribute,
    rule_check,
)

TRAFFIC_LEVELS = (500, 2_000, 10_000, 100_000)
LIFTS = {"false_positive_rate": 0.0, "power_30": 0.30, "power_50": 0.50}
BASE_CTR = 0.02
BASE_CVR = 0.05
CART_RATE = 0.15


def simulate(rng: np.random.Generator, listings: int, impressions_per_day: float, lift: float,
             rule: RuleSettings) -> Counts:
    """Counts for `listings` listings with the sandbox's noise model; the publish day falls on
    a random weekday."""
    from sandbox.traffic import draw_days  # devtools: only the benchmark needs the sandbox

    counts = Counts.empty(listings, rule)
    start = rng.integers(0, 7, size=(listings, 1))
    base_days = np.arange(rule.baseline_days)[None, :]
    post_days = rule.baseline_days + 1 + np.arange(rule.stat_max_days)[None, :]
    for days, prefix, day_lift in ((base_days, "base", 0.0), (post_days, "post", lift)):
        weekdays = (start + days) % 7
        drawn = draw_days(rng, np.array(impressions_per_day), np.array(BASE_CTR),
                          np.array(BASE_CVR), np.array(CART_RATE), weekdays,
                          np.array(day_lift))
        setattr(counts, f"{prefix}_impressions", drawn["impressions"])
        setattr(counts, f"{prefix}_clicks", drawn["clicks"])
        setattr(counts, f"{prefix}_orders", drawn["orders"])
        getattr(counts, f"{prefix}_seen")[:] = True
    return counts


def accuracy(rule: RuleSettings, listings: int, seed: int) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    figures: dict[str, dict[str, float]] = {}
    for level in TRAFFIC_LEVELS:
        row: dict[str, float] = {}
        for name, lift in LIFTS.items():
            counts = simulate(rng, listings, level, lift, rule)
            results = attribute(counts, rule)
            row[name] = float(np.mean(results.verdict == EFFECTIVE))
            row[f"stats_{name}"] = float(np.mean(results.significant
                                                 & (results.verdict != NOT_ENOUGH_DATA)))
            base_ctr = results.baseline_ctr
            met, _days = rule_check(counts, base_ctr, results.baseline_cvr, rule)
            row[f"rule_{name}"] = float(np.mean(met))
        figures[str(level)] = row
    return figures


@dataclass
class SpeedResult:
    ingest_seconds: float
    attribution_seconds: float
    rows: int
    listings: int


def speed(listings: int = 5_000, days: int = 30, seed: int = 7) -> SpeedResult:
    """Ingest and attribute one throw-away store's listings on the configured database."""
    from django.db import transaction

    from catalog.models import Product
    from effects import services
    from effects.models import EffectListing
    from marketplaces.connectors import DailyPerformance
    from sandbox.traffic import draw_days
    from stores.models import Store
    from tenants.models import Tenant, User
    from tenants.scope import tenant_scope

    rng = np.random.default_rng(seed)
    slug = f"benchmark-effects-{int(time.time())}"
    tenant = Tenant.objects.create(name="Benchmark (effects)", slug=slug,
                                   status=Tenant.Status.ACTIVE)
    user = User.objects.create_user(email=f"{slug}@benchmark.invalid", password=None)
    try:
        with tenant_scope(tenant):
            store = Store.objects.create(site_code="temu-us", display_name="Benchmark store",
                                         shop_id=slug, created_by=user,
                                         status=Store.Status.HEALTHY)
            from django.utils import timezone

            now = timezone.now()
            products = Product.objects.bulk_create([
                Product(store=store, tenant=tenant, marketplace_id=str(900_000 + n),
                        title=f"Benchmark product {n}", content_hash="-", last_synced_at=now)
                for n in range(listings)])
            last_day = timezone.localdate() - timedelta(days=1)
            first_day = last_day - timedelta(days=days - 1)
            publish_day = first_day + timedelta(days=21)
            EffectListing.objects.bulk_create([
                EffectListing(store=store, tenant=tenant, product=product,
                              marketplace_id=product.marketplace_id, first_published_at=now,
                              publish_day=publish_day, content_kind="title",
                              baseline_synced_at=now, synced_through=last_day)
                for product in products])
            day_list = [first_day + timedelta(days=n) for n in range(days)]
            weekdays = np.array([day.weekday() for day in day_list])[None, :]
            level = rng.lognormal(np.log(800), 1.0, size=(listings, 1))
            drawn = draw_days(rng, level, np.array(BASE_CTR), np.array(BASE_CVR),
                              np.array(CART_RATE), weekdays, np.array(0.0))
            rows = [
                DailyPerformance(marketplace_id=product.marketplace_id, day=day,
                                 impressions=int(drawn["impressions"][i, j]),
                                 clicks=int(drawn["clicks"][i, j]),
                                 add_to_cart=int(drawn["add_to_cart"][i, j]),
                                 orders=int(drawn["orders"][i, j]),
                                 gmv=Decimal(int(drawn["orders"][i, j]) * 18).quantize(
                                     Decimal("0.01")), currency="USD")
                for i, product in enumerate(products) for j, day in enumerate(day_list)]
            started = time.perf_counter()
            with transaction.atomic():
                services.ingest_rows(store, rows)
            ingest_seconds = time.perf_counter() - started
            started = time.perf_counter()
            services.attribute_store(store)
            attribution_seconds = time.perf_counter() - started
    finally:
        tenant.delete()
        user.delete()
    return SpeedResult(ingest_seconds, attribution_seconds, len(rows), listings)


def run(*, listings: int, seed: int, with_speed: bool = True, speed_listings: int = 5_000,
        rule: RuleSettings | None = None) -> dict[str, Any]:
    from effects.services import rule_for

    rule = rule or rule_for("temu")
    result: dict[str, Any] = {"seed": seed, "listings_per_case": listings,
                              "cvr_mode": rule.cvr_mode, "levels": accuracy(rule, listings, seed)}
    if with_speed:
        measured = speed(listings=speed_listings)
        result.update(ingest_seconds=round(measured.ingest_seconds, 3),
                      ingest_rows=measured.rows,
                      attribution_seconds=round(measured.attribution_seconds, 3),
                      attribution_listings=measured.listings)
    return result
