"""Reading the catalog: product search and filters, and the sync runs of each store.

Every query goes through the tenant-scoped managers: only the tenant in scope is seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from catalog.models import Product, QualityFlag, SyncRun
from stores.models import Store


@dataclass(frozen=True)
class ProductFilters:
    q: str = ""
    store_id: int | None = None
    category: str = ""
    flag: str = ""

    @classmethod
    def from_params(cls, params) -> ProductFilters:
        """From a query string; invalid values are ignored, not errors."""
        store = (params.get("store") or "").strip()
        flag = (params.get("flag") or "").strip()
        return cls(
            q=(params.get("q") or "").strip()[:200],
            store_id=int(store) if store.isdigit() else None,
            category=(params.get("category") or "").strip()[:200],
            flag=flag if flag in QualityFlag.values else "",
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.store_id or self.category or self.flag)


def products(filters: ProductFilters | None = None) -> QuerySet[Product]:
    """The tenant's products matching the filters: search by title, SKU or goods id."""
    filters = filters or ProductFilters()
    queryset = Product.objects.select_related("store")
    if filters.q:
        queryset = queryset.filter(Q(title__icontains=filters.q) | Q(sku__icontains=filters.q)
                                   | Q(marketplace_id__icontains=filters.q))
    if filters.store_id:
        queryset = queryset.filter(store_id=filters.store_id)
    if filters.category:
        queryset = queryset.filter(category=filters.category)
    if filters.flag:
        queryset = queryset.filter(_has_flag(filters.flag))
    return queryset.order_by("store_id", "marketplace_id")


def _has_flag(flag: str) -> Q:
    return Q(quality_flags__contains=[flag])  # jsonb @> (indexable)


def categories(store_id: int | None = None) -> list[str]:
    queryset = Product.objects.exclude(category="")
    if store_id:
        queryset = queryset.filter(store_id=store_id)
    return list(queryset.order_by("category").values_list("category", flat=True).distinct())


def stores() -> QuerySet[Store]:
    """The stores pages and the API offer to choose from: archived ones are not among them."""
    from stores.selectors import listed_stores

    return listed_stores().order_by("site_code", "display_name")


def sync_runs(store_id: int | None = None) -> QuerySet[SyncRun]:
    queryset = SyncRun.objects.select_related("store", "requested_by")
    if store_id:
        queryset = queryset.filter(store_id=store_id)
    return queryset.order_by("-started_at", "-id")


def latest_run(store: Store) -> SyncRun | None:
    return SyncRun.objects.filter(store=store).order_by("-started_at", "-id").first()


def latest_runs_by_store() -> dict[int, SyncRun]:
    """The most recent run of every store of the tenant (one query)."""
    runs = SyncRun.objects.order_by("store_id", "-started_at", "-id").distinct("store_id")
    return {run.store_id: run for run in runs}
