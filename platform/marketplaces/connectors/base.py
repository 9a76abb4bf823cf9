"""What every marketplace connector offers, in the marketplace-neutral terms the rest of the
platform uses. Connectors translate to and from each marketplace's own protocol."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from django.conf import settings

from marketplaces.sites import Site


class MarketplaceError(Exception):
    """A marketplace call that failed. `code` is one of portal.error_codes (ERR_TEMU_403, ...);
    `retryable` says whether trying again later can help; `request_id` is the gateway's."""

    def __init__(self, code: str, message: str = "", *, retryable: bool = False,
                 request_id: str = "", marketplace_code: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.request_id = request_id
        self.marketplace_code = marketplace_code


@dataclass(frozen=True)
class TokenGrant:
    """What exchanging an authorization code returns."""

    access_token: str
    expires_at: datetime
    shop_id: str
    shop_name: str
    scopes: list[str]


@dataclass(frozen=True)
class TokenInfo:
    shop_id: str
    shop_name: str
    scopes: list[str]
    expires_at: datetime


@dataclass(frozen=True)
class GoodsImage:
    url: str
    width: int
    height: int
    has_watermark: bool = False
    has_text: bool = False


@dataclass(frozen=True)
class Goods:
    marketplace_id: str
    sku: str
    title: str
    category: str
    description: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str | None] = field(default_factory=dict)  # None: not filled in
    images: list[GoodsImage] = field(default_factory=list)
    bullet_points: list[str] = field(default_factory=list)
    search_terms: list[str] = field(default_factory=list)
    price: Decimal | None = None
    currency: str = ""


@dataclass(frozen=True)
class GoodsPage:
    items: list[Goods]
    page: int
    page_size: int
    total: int

    @property
    def has_more(self) -> bool:
        return self.page * self.page_size < self.total


@dataclass(frozen=True)
class ContentUpdate:
    """A partial update of a listing's text. AI-generated content is always flagged."""

    language: str
    title: str | None = None
    bullet_points: list[str] | None = None
    description: str | None = None
    search_terms: list[str] | None = None
    ai_assisted: bool = True

    def fields(self, *, title: str, bullet_points: str, description: str, search_terms: str
               ) -> dict[str, Any]:
        """The fields being changed, under the marketplace's own names."""
        content = {name: value for name, value in (
            (title, self.title), (bullet_points, self.bullet_points),
            (description, self.description), (search_terms, self.search_terms),
        ) if value is not None}
        if not content:
            raise ValueError("a content update needs at least one field")
        return content


@dataclass(frozen=True)
class DailyPerformance:
    """One listing's counts on one local day of the marketplace's performance report."""

    marketplace_id: str
    day: date
    impressions: int
    clicks: int
    add_to_cart: int
    orders: int
    gmv: Decimal  # in the site's currency
    currency: str = ""


class Connector(abc.ABC):
    page_size_max: int = 100
    performance_goods_max: int = 100  # goods ids per performance call
    performance_days_max: int = 31  # days per performance call

    def __init__(self, site: Site, access_token: str = "", *, store_key: str = "",
                 time_zone: str | tzinfo | None = None) -> None:
        """store_key: the store's id for the shared daily request budget (empty: not counted,
        as for token creation). time_zone: where the budget's day starts; by default the time
        zone of the tenant in scope, else settings.TIME_ZONE."""
        self.site = site
        self.access_token = access_token
        self.store_key = store_key
        self.time_zone = time_zone or _default_time_zone()

    @abc.abstractmethod
    def create_token(self, authorization_code: str) -> TokenGrant:
        """Exchange the code the seller pasted from the seller center for an access token."""

    @abc.abstractmethod
    def token_info(self) -> TokenInfo: ...

    @abc.abstractmethod
    def list_goods(self, page: int, page_size: int) -> GoodsPage:
        """Page numbers start at 1."""

    @abc.abstractmethod
    def goods_detail(self, marketplace_id: str) -> Goods: ...

    @abc.abstractmethod
    def update_content(self, marketplace_id: str, update: ContentUpdate) -> str:
        """Partially update a listing's text; returns the gateway's request id."""

    def daily_performance(self, marketplace_ids: list[str], start: date, end: date
                          ) -> list[DailyPerformance]:
        """Daily counts of up to performance_goods_max listings over start..end (inclusive,
        at most performance_days_max days, ending yesterday at the latest). One request."""
        raise NotImplementedError


def _default_time_zone() -> str:
    from tenants.scope import current_tenant  # late: tenants' models need the app registry

    tenant = current_tenant()
    return tenant.time_zone if tenant is not None else settings.TIME_ZONE
