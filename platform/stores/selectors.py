"""Reads about stores for pages and the API: health, token validity, request budget."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from marketplaces.limits import remaining_daily_budgets
from marketplaces.sites import MARKETPLACE_NAMES, SITES, Marketplace
from portal.error_codes import ErrorCode, describe
from stores.models import Store, StoreStatusChange

logger = logging.getLogger(__name__)

Status = Store.Status

# A token this close to its expiry: banner on the pages, one e-mail to the owners.
TOKEN_WARNING_WINDOW = timedelta(hours=24)

# The badge colour of each status: ok (green), info (blue), warn (amber), danger (red), off.
STATUS_TONE = {
    Status.HEALTHY: "ok",
    Status.CONNECTED: "info",
    Status.SYNCING: "info",
    Status.STALE: "warn",
    Status.AWAITING_AUTHORIZATION: "warn",
    Status.TOKEN_EXPIRED: "danger",
    Status.PERMISSION_DENIED: "danger",
    Status.IP_NOT_WHITELISTED: "danger",
    Status.ERROR: "danger",
    Status.REVOKED: "off",
}

# Statuses that need the seller to do something.
NEEDS_ACTION = frozenset({Status.TOKEN_EXPIRED, Status.PERMISSION_DENIED,
                          Status.IP_NOT_WHITELISTED, Status.AWAITING_AUTHORIZATION})


def status_tone(status: str) -> str:
    return STATUS_TONE.get(status, "off")


@dataclass(frozen=True)
class TokenValidity:
    expires_at: datetime | None
    remaining: timedelta | None  # None: no token or no known expiry

    @property
    def expired(self) -> bool:
        return self.remaining is not None and self.remaining <= timedelta(0)

    @property
    def expiring_soon(self) -> bool:
        """Within 24 hours of the expiry: the seller should re-authorize now."""
        return (self.remaining is not None
                and timedelta(0) < self.remaining <= TOKEN_WARNING_WINDOW)


def token_validity(store: Store, now: datetime | None = None) -> TokenValidity:
    if not store.access_token or store.token_expires_at is None:
        return TokenValidity(store.token_expires_at, None)
    now = now or timezone.now()
    return TokenValidity(store.token_expires_at, store.token_expires_at - now)


def remaining_budgets(stores: list[Store]) -> list[int | None]:
    """Today's remaining marketplace requests (5,000 a day per store) of each store, read in
    one Redis round trip; None for a store without a token, or when Redis is unreachable."""
    with_token = [store for store in stores if store.access_token]
    try:
        left = dict(zip((store.pk for store in with_token), remaining_daily_budgets(
            [(store.budget_key, store.tenant.zone) for store in with_token]), strict=True))
    except Exception:  # the page must not break because Redis is unreachable
        logger.exception("Could not read the request budgets of stores %s",
                         [store.pk for store in with_token])
        left = {}
    return [left.get(store.pk) for store in stores]


@dataclass(frozen=True)
class StoreOverview:
    """One store as the stores page and the detail page show it."""

    store: Store
    tone: str
    token: TokenValidity
    budget: int | None
    error: ErrorCode | None

    @property
    def needs_action(self) -> bool:
        return self.store.status in NEEDS_ACTION or self.token.expiring_soon


def _overview(store: Store, now: datetime, budget: int | None) -> StoreOverview:
    return StoreOverview(
        store=store,
        tone=status_tone(store.status),
        token=token_validity(store, now),
        budget=budget,
        error=describe(store.last_error_code) if store.last_error_code else None,
    )


def overview(store: Store, now: datetime | None = None) -> StoreOverview:
    """One store, for its detail page."""
    return _overview(store, now or timezone.now(), remaining_budgets([store])[0])


def store_overviews(now: datetime | None = None) -> list[StoreOverview]:
    """Every store of the tenant in scope, for the stores page."""
    now = now or timezone.now()
    stores = list(Store.objects.select_related("tenant"))
    return [_overview(store, now, budget)
            for store, budget in zip(stores, remaining_budgets(stores), strict=True)]


def stores_needing_attention(now: datetime | None = None) -> list[StoreOverview]:
    """Stores of the tenant in scope whose token expires within 24 hours or has expired, or
    that the marketplace refuses: for the banner on the stores page and the dashboard."""
    now = now or timezone.now()
    stores = Store.objects.exclude(status=Status.REVOKED).select_related("tenant")
    found = [_overview(store, now, None) for store in stores]
    return [item for item in found if item.needs_action or item.token.expired]


def status_history(store: Store, limit: int = 50) -> QuerySet[StoreStatusChange]:
    return store.status_changes.select_related("changed_by")[:limit]


def egress_ips() -> list[str]:
    """The addresses the platform calls the marketplaces from (for the IP whitelist)."""
    return list(settings.ISV_EGRESS_IPS)


def site_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """The sites grouped by marketplace, as choices: [("Temu", [(code, label), ...]), ...]."""
    return [
        (MARKETPLACE_NAMES[marketplace],
         [(site.code, site.label) for site in SITES.values() if site.marketplace == marketplace])
        for marketplace in Marketplace
    ]
