"""One connector per marketplace; `connector_for(site, access_token)` picks the right one."""

from __future__ import annotations

from datetime import tzinfo

from marketplaces.connectors.base import (
    Connector,
    ContentCheck,
    ContentFinding,
    ContentUpdate,
    DailyPerformance,
    Goods,
    GoodsImage,
    GoodsPage,
    MarketplaceError,
    TokenGrant,
    TokenInfo,
)
from marketplaces.sites import Marketplace, Site

__all__ = ["Connector", "ContentCheck", "ContentFinding", "ContentUpdate", "DailyPerformance",
           "Goods", "GoodsImage", "GoodsPage", "MarketplaceError", "TokenGrant", "TokenInfo",
           "connector_for"]


def connector_for(site: Site, access_token: str = "", *, store_key: str = "",
                  time_zone: str | tzinfo | None = None) -> Connector:
    """store_key identifies the store for the shared request budget (e.g. its primary key);
    time_zone is the tenant's (its local day is the budget's day; default: tenant in scope)."""
    if site.marketplace == Marketplace.TEMU:
        from marketplaces.connectors.temu import TemuConnector

        return TemuConnector(site, access_token, store_key=store_key, time_zone=time_zone)
    from marketplaces.connectors.aliexpress import AliExpressConnector

    return AliExpressConnector(site, access_token, store_key=store_key, time_zone=time_zone)
