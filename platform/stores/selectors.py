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


# Statuses in which the store holds a token that works, as far as we know.
_WORKING = frozenset({Status.CONNECTED, Status.SYNCING, Status.HEALTHY, Status.STALE})


@dataclass(frozen=True)
class TokenValidity:
    """The one answer to "does the store's token work, and for how long": what every page, the
    API and the status badge show. The marketplace's "token expired" overrides the expiry
    date the token came with."""

    expires_at: datetime | None
    remaining: timedelta | None  # None: no token or no known expiry
    refused: bool = False  # the marketplace said the token expired (ERR_TOKEN_EXPIRED)

    @property
    def expired(self) -> bool:
        return self.refused or (self.remaining is not None and self.remaining <= timedelta(0))

    @property
    def expiring_soon(self) -> bool:
        """Within 24 hours of the expiry: the seller should re-authorize now."""
        return (not self.expired and self.remaining is not None
                and self.remaining <= TOKEN_WARNING_WINDOW)

    @property
    def state(self) -> str:
        """none, valid, expiring_soon or expired."""
        if self.expired:
            return "expired"
        if self.remaining is None:
            return "none"
        return "expiring_soon" if self.expiring_soon else "valid"


def token_validity(store: Store, now: datetime | None = None) -> TokenValidity:
    refused = store.status == Status.TOKEN_EXPIRED
    if not store.access_token or store.token_expires_at is None:
        return TokenValidity(store.token_expires_at, None, refused and bool(store.access_token))
    now = now or timezone.now()
    return TokenValidity(store.token_expires_at, store.token_expires_at - now, refused)


def effective_status(store: Store, token: TokenValidity) -> str:
    """The store's status as shown: a working store whose token's time ran out is "token
    expired" at once, not only after the hourly health check wrote it down."""
    if token.expired and store.status in _WORKING:
        return Status.TOKEN_EXPIRED
    return store.status


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
    status: str = ""  # effective_status()

    @property
    def status_label(self) -> str:
        return str(Status(self.status).label)

    @property
    def needs_action(self) -> bool:
        return (self.status in NEEDS_ACTION or self.token.expiring_soon
                or self.token.expired)


def _overview(store: Store, now: datetime, budget: int | None) -> StoreOverview:
    token = token_validity(store, now)
    status = effective_status(store, token)
    return StoreOverview(
        store=store,
        tone=status_tone(status),
        token=token,
        budget=budget,
        error=describe(store.last_error_code) if store.last_error_code else None,
        status=status,
    )


def overview(store: Store, now: datetime | None = None) -> StoreOverview:
    """One store, for its detail page."""
    return _overview(store, now or timezone.now(), remaining_budgets([store])[0])


def listed_stores() -> QuerySet[Store]:
    """The stores of the tenant in scope that lists and selections offer: every store but the
    archived ones (which stay for billing history and the audit trail)."""
    return Store.objects.filter(archived_at__isnull=True)


def archived_stores() -> QuerySet[Store]:
    """The tenant's archived stores: only the stores page's own "archived" view shows them."""
    return Store.objects.filter(archived_at__isnull=False).order_by("-archived_at")


def store_overviews(now: datetime | None = None, *, archived: bool = False
                    ) -> list[StoreOverview]:
    """Every listed store of the tenant in scope (or, with `archived`, every archived one),
    for the stores page."""
    now = now or timezone.now()
    stores = list((archived_stores() if archived else listed_stores()).select_related("tenant"))
    return [_overview(store, now, budget)
            for store, budget in zip(stores, remaining_budgets(stores), strict=True)]


def stores_needing_attention(now: datetime | None = None) -> list[StoreOverview]:
    """Stores of the tenant in scope whose token expires within 24 hours or has expired, or
    that the marketplace refuses: for the banner on the stores page and the dashboard."""
    now = now or timezone.now()
    stores = listed_stores().exclude(status=Status.REVOKED).select_related("tenant")
    found = [_overview(store, now, None) for store in stores]
    return [item for item in found if item.needs_action]


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
