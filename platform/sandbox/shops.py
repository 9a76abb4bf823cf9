"""The sandbox's fixed apps and demo shops. Constants on purpose: the demo and the tests configure
the platform with these keys, and the shops' products are generated from their seeds."""

from __future__ import annotations

from dataclasses import dataclass

# The ISV's app on each marketplace, as the sandbox knows it (never real credentials).
TEMU_APP_KEY = "sandbox-temu-app-key"
TEMU_APP_SECRET = "sandbox-temu-app-secret-7f3a91c2"
ALIEXPRESS_APP_KEY = "503118"
ALIEXPRESS_APP_SECRET = "sandbox-aliexpress-app-secret-b82e"

APP_SECRETS: dict[tuple[str, str], str] = {
    ("temu", TEMU_APP_KEY): TEMU_APP_SECRET,
    ("aliexpress", ALIEXPRESS_APP_KEY): ALIEXPRESS_APP_SECRET,
}

TEMU_APIS = (
    "bg.open.accesstoken.info.get",
    "bg.local.goods.list.query",
    "bg.local.goods.detail.query",
    "bg.local.goods.partial.update",
    "temu.local.goods.illegal.vocabulary.check",
    "bg.local.goods.performance.query",  # listing traffic (sandbox.traffic)
)
ALIEXPRESS_APIS = (
    "aliexpress.solution.token.info.get",
    "aliexpress.solution.product.list.get",
    "aliexpress.solution.product.info.get",
    "aliexpress.solution.product.edit",
    "aliexpress.solution.product.performance.get",  # listing traffic (sandbox.traffic)
)
APIS = {"temu": TEMU_APIS, "aliexpress": ALIEXPRESS_APIS}

LANGUAGES = {"temu": ("en", "fr", "de", "es", "it"),
             "aliexpress": ("en", "fr", "de", "es", "it", "ru", "pt")}

SITE_CURRENCIES = {
    "temu-us": "USD", "temu-ca": "CAD", "temu-au": "AUD", "temu-nz": "NZD", "temu-uk": "GBP",
    "temu-de": "EUR", "temu-fr": "EUR", "temu-es": "EUR", "temu-it": "EUR", "temu-nl": "EUR",
    "temu-pl": "PLN", "aliexpress-es": "EUR", "aliexpress-fr": "EUR", "aliexpress-de": "EUR",
    "aliexpress-it": "EUR", "aliexpress-mx": "MXN", "aliexpress-br": "BRL",
    "aliexpress-ru": "RUB", "aliexpress-us": "USD",
}


# Where each shop is registered, as the token calls say it: Temu answers a numeric `regionId`
# (211 is the United States in Temu's API; the other numbers are the sandbox's own, mirrored in
# marketplaces.connectors.temu.TEMU_REGION_IDS), AliExpress the ISO country of the shop's site.
TEMU_REGION_IDS = {
    "temu-us": 211, "temu-ca": 37, "temu-au": 12, "temu-nz": 144, "temu-uk": 210,
    "temu-de": 76, "temu-fr": 69, "temu-es": 186, "temu-it": 98, "temu-nl": 141,
    "temu-pl": 162,
}


@dataclass(frozen=True)
class Shop:
    shop_id: str
    marketplace: str  # "temu" or "aliexpress"
    site: str  # a site code of marketplaces.sites, e.g. "temu-us"
    name: str
    sku_count: int
    seed: int
    scopes: tuple[str, ...] = ()  # empty: every API of the marketplace

    @property
    def currency(self) -> str:
        return SITE_CURRENCIES.get(self.site, "USD")

    @property
    def temu_region_id(self) -> int:
        return TEMU_REGION_IDS[self.site]

    @property
    def country(self) -> str:
        """The ISO country of the shop's site (AliExpress's `country`)."""
        return self.site.split("-", 1)[1].upper()

    @property
    def default_scopes(self) -> tuple[str, ...]:
        return self.scopes or APIS[self.marketplace]


# Named so tests can say which shop they mean.
TEMU_SHOP_5000 = "634418210001"
TEMU_SHOP_300 = "634418210002"
TEMU_SHOP_OVER_LIMIT = "634418210003"  # 5,200 SKUs: more than a pack's 5,000
TEMU_SHOP_CA = "634418210004"
TEMU_SHOP_READ_ONLY = "634418210005"  # its authorization lacks the partial-update API
ALIEXPRESS_SHOP_2000 = "2207718830001"
ALIEXPRESS_SHOP_300 = "2207718830002"

SHOPS: dict[str, Shop] = {shop.shop_id: shop for shop in [
    Shop(TEMU_SHOP_5000, "temu", "temu-us", "Sunny Lane Home & Style", 5000, 1101),
    Shop(TEMU_SHOP_300, "temu", "temu-us", "Pixel Peak Accessories", 300, 1102),
    Shop(TEMU_SHOP_OVER_LIMIT, "temu", "temu-de", "Nordlicht Living", 5200, 1103),
    Shop(TEMU_SHOP_CA, "temu", "temu-ca", "Maple Trend Outfitters", 1200, 1104),
    Shop(TEMU_SHOP_READ_ONLY, "temu", "temu-au", "Harbour Beauty (read-only)", 80, 1105,
         scopes=TEMU_APIS[:3]),
    Shop(ALIEXPRESS_SHOP_2000, "aliexpress", "aliexpress-es", "Tienda Brisa Hogar", 2000, 2101),
    Shop(ALIEXPRESS_SHOP_300, "aliexpress", "aliexpress-fr", "Maison Lumière", 300, 2102),
]}
