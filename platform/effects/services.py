"""Writes of the effect loop: which listings carry AI content, reading their daily performance
from the marketplace within the store's request budget, and judging their effect.

    sync_all_stores()          the daily django-q schedule (every tenant, crossing on purpose)
      register_listings(store) first AI publish per goods id, from the review records
      sync_store(store)        yesterday for every listing, the 28-day baseline for new ones
      attribute_store(store)   one verdict per listing (effects.attribution)
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from effects import attribution
from effects.attribution import Counts, RuleSettings
from effects.models import EffectListing, ListingVerdict
from effects.partitions import ensure_partitions
from marketplaces import limits
from marketplaces.connectors import DailyPerformance, MarketplaceError
from review.models import Review
from stores.models import Store
from stores.services import apply_marketplace_error, connector_for_store
from tenants.scope import require_tenant, tenant_scope

logger = logging.getLogger(__name__)


def rule_for(marketplace: str) -> RuleSettings:
    return RuleSettings.from_dict(settings.EFFECT_RULES[marketplace])


def local_yesterday() -> date:
    """Yesterday in the time zone of the tenant in scope (the last complete local day)."""
    return timezone.now().astimezone(require_tenant().zone).date() - timedelta(days=1)


# -- listings --------------------------------------------------------------------------------

def register_listings(store: Store) -> int:
    """An EffectListing for every goods id of the store whose AI content was published to the
    listing, dated by its first such publish (tenant's local day). Returns how many are new."""
    known = set(EffectListing.objects.filter(store=store).values_list("marketplace_id",
                                                                       flat=True))
    zone = require_tenant().zone
    new: dict[str, EffectListing] = {}
    published = (Review.objects.filter(store=store, status=Review.Status.PUBLISHED,
                                       destination=Review.Destination.LISTING,
                                       published_at__isnull=False)
                 .order_by("published_at", "id")
                 .values("published_at", "item__product_id", "item__product__marketplace_id",
                         "item__kind", "item__instruction_version_id"))
    for row in published:
        goods = row["item__product__marketplace_id"]
        if goods in known or goods in new:
            continue
        new[goods] = EffectListing(
            store=store, tenant_id=store.tenant_id, product_id=row["item__product_id"],
            marketplace_id=goods,
            first_published_at=row["published_at"],
            publish_day=row["published_at"].astimezone(zone).date(),
            content_kind=row["item__kind"],
            instruction_version_id=row["item__instruction_version_id"])
    EffectListing.objects.bulk_create(new.values(), ignore_conflicts=True)
    return len(new)


# -- ingest ----------------------------------------------------------------------------------

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS effects_ingest (
    marketplace_id varchar(64), day date, impressions integer, clicks integer,
    add_to_cart integer, orders integer, gmv numeric(14, 2), currency varchar(3)
) ON COMMIT DELETE ROWS
"""

_UPSERT = """
INSERT INTO effects_dailyperformance (tenant_id, store_id, marketplace_id, day, impressions,
    clicks, add_to_cart, orders, gmv, currency, fetched_at)
SELECT %s, %s, marketplace_id, day, impressions, clicks, add_to_cart, orders, gmv, currency, %s
FROM effects_ingest
ON CONFLICT (store_id, marketplace_id, day) DO UPDATE SET
    impressions = EXCLUDED.impressions, clicks = EXCLUDED.clicks,
    add_to_cart = EXCLUDED.add_to_cart, orders = EXCLUDED.orders, gmv = EXCLUDED.gmv,
    currency = EXCLUDED.currency, fetched_at = EXCLUDED.fetched_at
"""


def ingest_rows(store: Store, rows: Iterable[DailyPerformance]) -> int:
    """Upsert the marketplace's daily rows (a later report of a day replaces the earlier one):
    COPY into a staging table, then one INSERT .. ON CONFLICT into the partitioned table."""
    rows = list(rows)
    if not rows:
        return 0
    if store.tenant_id != require_tenant().pk:
        raise ValueError("the store belongs to another tenant")
    with transaction.atomic():
        ensure_partitions({row.day for row in rows})
        with connection.cursor() as cursor:
            cursor.execute(_STAGING)
            cursor.execute("TRUNCATE effects_ingest")
            with cursor.copy("COPY effects_ingest FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((row.marketplace_id, row.day, row.impressions, row.clicks,
                                    row.add_to_cart, row.orders, row.gmv, row.currency[:3]))
            cursor.execute(_UPSERT, [store.tenant_id, store.pk, timezone.now()])
            cursor.execute("TRUNCATE effects_ingest")
    return len(rows)


# -- sync ------------------------------------------------------------------------------------

@dataclass
class SyncResult:
    requests: int = 0
    rows: int = 0
    listings_done: int = 0
    stopped: str = ""  # "" or the error code that stopped it (e.g. ERR_DAILY_REQUEST_BUDGET)
    errors: list[str] = field(default_factory=list)


def _day_ranges(start: date, end: date, size: int) -> list[tuple[date, date]]:
    ranges = []
    while start <= end:
        last = min(start + timedelta(days=size - 1), end)
        ranges.append((start, last))
        start = last + timedelta(days=1)
    return ranges


PERFORMANCE_NOT_AUTHORIZED = "ERR_PERFORMANCE_NOT_AUTHORIZED"


def performance_authorized(store: Store) -> bool:
    """Whether the store's token was granted the marketplace's performance report (a store
    authorized before the platform read it was not). Unknown scopes count as granted."""
    return (not store.token_scopes
            or connector_for_store(store).performance_api in store.token_scopes)


def sync_store(store: Store, *, through: date | None = None) -> SyncResult:
    """Read what is missing of each listing's days up to `through` (default: yesterday in the
    tenant's time zone): the baseline (`baseline_days` before the publish) for new listings,
    the days since the last read for the others. Grouped into requests of up to 100 goods and
    31 days; stops, to go on next time, when only EFFECT_REQUEST_RESERVE requests are left of
    the store's daily budget or the marketplace refuses."""
    tenant = require_tenant()
    through = through or local_yesterday()
    rule = rule_for(store.site.marketplace.value)
    result = SyncResult()
    by_start: dict[date, list[EffectListing]] = defaultdict(list)
    for listing in EffectListing.objects.filter(store=store).order_by("marketplace_id"):
        if listing.baseline_synced_at is None or listing.synced_through is None:
            start = listing.publish_day - timedelta(days=rule.baseline_days)
        else:
            start = listing.synced_through + timedelta(days=1)
        if start <= through:
            by_start[start].append(listing)
    if not by_start:
        return result
    if not performance_authorized(store):
        # A token granted before the platform read listing performance: the store works as
        # before; its effects wait for a re-authorization that includes the permission.
        result.stopped = PERFORMANCE_NOT_AUTHORIZED
        return result
    connector = connector_for_store(store)
    for start, listings in sorted(by_start.items()):
        step = connector.performance_goods_max
        for offset in range(0, len(listings), step):
            chunk = listings[offset:offset + step]
            rows: list[DailyPerformance] = []
            try:
                for first, last in _day_ranges(start, through, connector.performance_days_max):
                    left = limits.remaining_daily_budget(store.budget_key, tenant.time_zone)
                    if left <= settings.EFFECT_REQUEST_RESERVE:
                        result.stopped = "ERR_DAILY_REQUEST_BUDGET"
                        return result
                    rows.extend(connector.daily_performance(
                        [listing.marketplace_id for listing in chunk], first, last))
                    result.requests += 1
            except MarketplaceError as error:
                result.stopped = error.code
                # A refusal of this one optional API says nothing of the store's other calls;
                # an expired token or a missing IP whitelist entry does.
                if error.code not in ("ERR_DAILY_REQUEST_BUDGET", "ERR_TEMU_403"):
                    apply_marketplace_error(store, error)
                return result
            result.rows += ingest_rows(store, rows)
            now = timezone.now()
            for listing in chunk:
                listing.synced_through = through
                listing.baseline_synced_at = listing.baseline_synced_at or now
            EffectListing.objects.bulk_update(chunk, ["synced_through", "baseline_synced_at"])
            result.listings_done += len(chunk)
    return result


def sync_all_stores(through: date | None = None) -> dict[str, int]:
    """The daily schedule: every store with AI content published to its listings, across
    tenants (on purpose): register new listings, read performance, attribute; then mark the
    experiments past their planned end finished."""
    store_ids = (Review.unscoped.filter(status=Review.Status.PUBLISHED,
                                        destination=Review.Destination.LISTING)
                 .values_list("store_id", flat=True).distinct())
    stores = Store.unscoped.select_related("tenant").filter(pk__in=list(store_ids)) \
        .exclude(status=Store.Status.REVOKED).order_by("tenant_id", "pk")
    totals = {"stores": 0, "requests": 0, "rows": 0, "failed": 0}
    for store in stores:
        with tenant_scope(store.tenant):
            try:
                register_listings(store)
                result = sync_store(store, through=through)
                attribute_store(store)
            except Exception:  # one store's failure must not stop the others
                logger.exception("Listing performance sync failed for store %s", store.pk)
                totals["failed"] += 1
                continue
        totals["stores"] += 1
        totals["requests"] += result.requests
        totals["rows"] += result.rows
    from effects.experiments import finish_due_experiments
    from effects.models import Experiment
    from tenants.models import Tenant

    running = Experiment.unscoped.filter(status=Experiment.Status.RUNNING).values("tenant_id")
    for tenant in Tenant.objects.filter(pk__in=running):
        with tenant_scope(tenant):
            totals["experiments_finished"] = totals.get("experiments_finished", 0) \
                + finish_due_experiments()
    logger.info("Listing performance sync: %s", totals)
    return totals


# -- attribution -----------------------------------------------------------------------------

_COUNTS = """
SELECT l.id, p.day - l.publish_day, p.impressions, p.clicks, p.orders
FROM effects_effectlisting l
JOIN effects_dailyperformance p
  ON p.store_id = l.store_id AND p.marketplace_id = l.marketplace_id
 AND p.day BETWEEN l.publish_day - %s AND l.publish_day + %s
WHERE l.store_id = %s AND l.tenant_id = %s AND p.tenant_id = %s
"""


def load_counts(store: Store, listing_ids: list[int], rule: RuleSettings) -> Counts:
    """The listings' counts as effects.attribution wants them (one query for the store)."""
    tenant = require_tenant()
    index = {listing_id: n for n, listing_id in enumerate(listing_ids)}
    counts = Counts.empty(len(listing_ids), rule)
    with connection.cursor() as cursor:
        cursor.execute(_COUNTS, [rule.baseline_days, rule.stat_max_days, store.pk, tenant.pk,
                                 tenant.pk])
        data = np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, 5)
    if len(data) == 0:
        return counts
    rows = np.array([index.get(int(listing_id), -1) for listing_id in data[:, 0]])
    keep = rows >= 0
    data, rows = data[keep], rows[keep]
    offsets = data[:, 1]
    base = offsets < 0
    post = offsets > 0
    base_cols = offsets[base] + rule.baseline_days
    post_cols = offsets[post] - 1
    for prefix, mask, cols in (("base", base, base_cols), ("post", post, post_cols)):
        getattr(counts, f"{prefix}_impressions")[rows[mask], cols] = data[mask, 2]
        getattr(counts, f"{prefix}_clicks")[rows[mask], cols] = data[mask, 3]
        getattr(counts, f"{prefix}_orders")[rows[mask], cols] = data[mask, 4]
        getattr(counts, f"{prefix}_seen")[rows[mask], cols] = True
    return counts


_VERDICT_FIELDS = ["verdict", "reason", "rule_met", "rule_days_met", "significant",
                   "baseline_impressions", "window_impressions", "impressions_needed",
                   "baseline_ctr", "window_ctr", "ctr_ratio", "ctr_ratio_low", "ctr_ratio_high",
                   "ctr_p_value", "baseline_cvr", "window_cvr", "cvr_noninferiority_p"]


def attribute_store(store: Store, *, now: datetime | None = None) -> int:
    """Judge every listing of the store and save the verdicts; returns how many."""
    rule = rule_for(store.site.marketplace.value)
    listing_ids = list(EffectListing.objects.filter(store=store).order_by("pk")
                       .values_list("pk", flat=True))
    if not listing_ids:
        return 0
    results = attribution.attribute(load_counts(store, listing_ids, rule), rule)
    now = now or timezone.now()
    verdicts = [ListingVerdict(listing_id=listing_id, store=store, tenant_id=store.tenant_id,
                               computed_at=now, **results.row(n))
                for n, listing_id in enumerate(listing_ids)]
    with transaction.atomic():
        ListingVerdict.objects.bulk_create(
            verdicts, update_conflicts=True, unique_fields=["listing"],
            update_fields=[*_VERDICT_FIELDS, "computed_at"], batch_size=2000)
    return len(verdicts)
