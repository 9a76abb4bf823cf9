"""What ISV staff read about the model requests: the log search and the cost report.

Queries use ModelRequestLog's indexes (tenant / store / node / error code, each with
started_at descending) and aggregate in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from generation.models import GenerationItem, ModelRequestLog

ZERO = Decimal("0")
THOUSAND = Decimal(1000)


@dataclass(frozen=True)
class LogFilter:
    tenant_id: int | None = None
    store_id: int | None = None
    job_id: int | None = None
    node_id: int | None = None
    error_code: str = ""  # a code, "any" for every failed request, "" for all
    start: datetime | None = None
    end: datetime | None = None


FAILED = "any"


def search_logs(wanted: LogFilter) -> QuerySet[ModelRequestLog]:
    """Every matching request, newest first (every tenant's: staff only)."""
    logs = ModelRequestLog.unscoped.select_related("tenant", "store")
    if wanted.tenant_id:
        logs = logs.filter(tenant_id=wanted.tenant_id)
    if wanted.store_id:
        logs = logs.filter(store_id=wanted.store_id)
    if wanted.job_id:
        logs = logs.filter(job_id=wanted.job_id)
    if wanted.node_id:
        logs = logs.filter(node_id=wanted.node_id)
    if wanted.error_code == FAILED:
        logs = logs.exclude(error_code="")
    elif wanted.error_code:
        logs = logs.filter(error_code=wanted.error_code)
    if wanted.start:
        logs = logs.filter(started_at__gte=wanted.start)
    if wanted.end:
        logs = logs.filter(started_at__lt=wanted.end)
    return logs.order_by("-started_at", "-id")


@dataclass(frozen=True)
class CostRow:
    key: int | None
    label: str
    requests: int
    failed_requests: int
    items: int  # items that reached review (content written)
    cost: Decimal
    prompt_tokens: int
    cache_hit_tokens: int
    completion_tokens: int

    @property
    def cost_per_1000_items(self) -> Decimal | None:
        return (self.cost * THOUSAND / self.items).quantize(Decimal("0.0001")) \
            if self.items else None

    @property
    def cache_hit_percent(self) -> Decimal | None:
        return _percent(self.cache_hit_tokens, self.prompt_tokens)

    @property
    def failed_percent(self) -> Decimal | None:
        return _percent(self.failed_requests, self.requests)


def _percent(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class CostReport:
    start: datetime
    end: datetime
    by_tenant: list[CostRow]
    by_node: list[CostRow]
    total: CostRow


_SUMS = dict(requests=Count("id"), failed=Count("id", filter=~Q(error_code="")),
             cost=Coalesce(Sum("cost"), ZERO), prompt=Coalesce(Sum("prompt_tokens"), 0),
             hit=Coalesce(Sum("cache_hit_tokens"), 0),
             completion=Coalesce(Sum("completion_tokens"), 0))


def _row(key, label, sums: dict, items: int) -> CostRow:
    return CostRow(key=key, label=label, requests=sums["requests"], failed_requests=sums["failed"],
                   items=items, cost=sums["cost"], prompt_tokens=sums["prompt"],
                   cache_hit_tokens=sums["hit"], completion_tokens=sums["completion"])


def cost_report(start: datetime, end: datetime) -> CostReport:
    """Model cost per tenant and per node for requests started in [start, end). Items are the
    items written in the period (finished ready for review); per node, the items it wrote."""
    logs = ModelRequestLog.unscoped.filter(started_at__gte=start, started_at__lt=end)
    items = GenerationItem.unscoped.filter(finished_at__gte=start, finished_at__lt=end,
                                           content__isnull=False)
    items_by_tenant = dict(items.values_list("tenant").annotate(n=Count("id")))
    items_by_node = dict(items.values_list("node").annotate(n=Count("id")))
    by_tenant = [_row(row["tenant"], row["tenant__name"], row, items_by_tenant.get(row["tenant"],
                                                                                   0))
                 for row in logs.values("tenant", "tenant__name").annotate(**_SUMS)
                 .order_by("-cost", "tenant__name")]
    by_node = [_row(row["node"], row["node_name"], row, items_by_node.get(row["node"], 0))
               for row in logs.values("node", "node_name").annotate(**_SUMS)
               .order_by("-cost", "node_name")]
    total = _row(None, "", logs.aggregate(**_SUMS), sum(items_by_tenant.values()))
    return CostReport(start=start, end=end, by_tenant=by_tenant, by_node=_merge_nodes(by_node),
                      total=total)


def _merge_nodes(rows: list[CostRow]) -> list[CostRow]:
    """A renamed node appears once per name in the log: one row per node, latest name."""
    merged: dict[int | None, CostRow] = {}
    for row in rows:
        seen = merged.get(row.key)
        if seen is None:
            merged[row.key] = row
            continue
        merged[row.key] = CostRow(
            key=row.key, label=seen.label, requests=seen.requests + row.requests,
            failed_requests=seen.failed_requests + row.failed_requests, items=seen.items,
            cost=seen.cost + row.cost, prompt_tokens=seen.prompt_tokens + row.prompt_tokens,
            cache_hit_tokens=seen.cache_hit_tokens + row.cache_hit_tokens,
            completion_tokens=seen.completion_tokens + row.completion_tokens)
    return sorted(merged.values(), key=lambda r: (-r.cost, r.label))
