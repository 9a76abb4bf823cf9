"""One connector per marketplace; `connector_for(site, access_token)` picks the right one."""

from __future__ import annotations

from marketplaces.connectors.base import (
    Connector,
    ContentUpdate,
    Goods,
    GoodsImage,
    GoodsPage,
    MarketplaceError,
    TokenGrant,
    TokenInfo,
)
from marketplaces.sites import Marketplace, Site

__all__ = ["Connector", "ContentUpdate", "Goods", "GoodsImage", "GoodsPage", "MarketplaceError",
           "TokenGrant", "TokenInfo", "connector_for"]


def connector_for(site: Site, access_token: str = "", *, store_key: str = "") -> Connector:
    """store_key identifies the store for the shared request budget (e.g. its primary key)."""
    if site.marketplace == Marketplace.TEMU:
        from marketplaces.connectors.temu import TemuConnector

        return TemuConnector(site, access_token, store_key=store_key)
    from marketplaces.connectors.aliexpress import AliExpressConnector

    return AliExpressConnector(site, access_token, store_key=store_key)
