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
                 request_id: str = "", marketplace_code: str = "",
                 findings: tuple[ContentFinding, ...] = ()) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.request_id = request_id
        self.marketplace_code = marketplace_code
        # A content update refused for its words (AliExpress): what the marketplace found.
        self.findings = findings


@dataclass(frozen=True)
class ContentFinding:
    """One word the marketplace's own content rules object to. `field` in our terms
    ("title", "description", "bullet_points.2", "search_terms.1"); `reason_code` the
    marketplace's (translated for people by review.publishing), `reason` its own words."""

    field: str
    term: str
    reason_code: str = ""
    reason: str = ""

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "term": self.term, "reason_code": self.reason_code,
                "reason": self.reason}


@dataclass(frozen=True)
class ContentCheck:
    """The marketplace's own banned-word check of a content update. `offered` is False when
    the marketplace has no such check (its rules are applied when the update is sent)."""

    offered: bool
    findings: tuple[ContentFinding, ...] = ()
    request_id: str = ""

    @property
    def passed(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class TokenGrant:
    """What exchanging an authorization code returns. `site_code` is the site the marketplace
    says the shop is registered on (one of marketplaces.sites.SITES), or "" when it named a
    region we do not offer; `region` is what it said, as it said it."""

    access_token: str
    expires_at: datetime
    shop_id: str
    shop_name: str
    scopes: list[str]
    site_code: str = ""
    region: str = ""


@dataclass(frozen=True)
class TokenInfo:
    shop_id: str
    shop_name: str
    scopes: list[str]
    expires_at: datetime
    site_code: str = ""  # as in TokenGrant
    region: str = ""


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
    performance_api: str = ""  # the API a token must be granted to read listing performance

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
    def goods_detail(self, marketplace_id: str, language: str | None = None) -> Goods:
        """The listing as the marketplace shows it now (in `language`, else its default)."""

    def check_content(self, marketplace_id: str, update: ContentUpdate) -> ContentCheck:
        """The marketplace's own banned-word check of `update`, without changing anything.
        By default not offered."""
        return ContentCheck(offered=False)

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
