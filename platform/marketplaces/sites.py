"""Reference data: the marketplaces and their sites. Each site is authorized and billed apart."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _


class Marketplace(StrEnum):
    TEMU = "temu"
    ALIEXPRESS = "aliexpress"


MARKETPLACE_NAMES = {Marketplace.TEMU: "Temu", Marketplace.ALIEXPRESS: "AliExpress"}
MARKETPLACE_CHOICES = [(marketplace.value, name) for marketplace, name in MARKETPLACE_NAMES.items()]

TEMU_US_GATEWAY = "https://openapi-b-us.temu.com/openapi/router"
TEMU_EU_GATEWAY = "https://openapi-b-eu.temu.com/openapi/router"
TEMU_GLOBAL_GATEWAY = "https://openapi-b-global.temu.com/openapi/router"
ALIEXPRESS_GATEWAY = "https://api-sg.aliexpress.com/sync"

TEMU_LANGUAGES = ("en", "fr", "de", "es", "it")
ALIEXPRESS_LANGUAGES = ("en", "fr", "de", "es", "it", "ru", "pt")
# Languages content may be written in, per marketplace (each site lists its own main ones).
MARKETPLACE_LANGUAGES = {Marketplace.TEMU: TEMU_LANGUAGES,
                         Marketplace.ALIEXPRESS: ALIEXPRESS_LANGUAGES}


@dataclass(frozen=True)
class Site:
    code: str
    marketplace: Marketplace
    name: str | Promise
    gateway: str
    languages: tuple[str, ...]
    currency: str

    @property
    def label(self) -> str:
        return f"{MARKETPLACE_NAMES[self.marketplace]} {self.name}"

    @property
    def gateway_url(self) -> str:
        """The real gateway, or the sandbox when settings point this marketplace there."""
        override = settings.MARKETPLACE_GATEWAY_OVERRIDES.get(self.marketplace.value)
        return override or self.gateway


def _temu(code, name, gateway, languages, currency) -> Site:
    return Site(f"temu-{code}", Marketplace.TEMU, name, gateway, languages, currency)


def _aliexpress(code, name, languages, currency) -> Site:
    return Site(f"aliexpress-{code}", Marketplace.ALIEXPRESS, name, ALIEXPRESS_GATEWAY, languages,
                currency)


SITES: dict[str, Site] = {site.code: site for site in [
    _temu("us", _("United States"), TEMU_US_GATEWAY, ("en", "es"), "USD"),
    _temu("ca", _("Canada"), TEMU_US_GATEWAY, ("en", "fr"), "CAD"),
    _temu("au", _("Australia"), TEMU_GLOBAL_GATEWAY, ("en",), "AUD"),
    _temu("nz", _("New Zealand"), TEMU_GLOBAL_GATEWAY, ("en",), "NZD"),
    _temu("uk", _("United Kingdom"), TEMU_EU_GATEWAY, ("en",), "GBP"),
    _temu("de", _("Germany"), TEMU_EU_GATEWAY, ("de", "en"), "EUR"),
    _temu("fr", _("France"), TEMU_EU_GATEWAY, ("fr", "en"), "EUR"),
    _temu("es", _("Spain"), TEMU_EU_GATEWAY, ("es", "en"), "EUR"),
    _temu("it", _("Italy"), TEMU_EU_GATEWAY, ("it", "en"), "EUR"),
    _temu("nl", _("Netherlands"), TEMU_EU_GATEWAY, ("en", "de"), "EUR"),
    _temu("pl", _("Poland"), TEMU_EU_GATEWAY, ("en", "de"), "PLN"),
    _aliexpress("es", _("Spain"), ("es", "en"), "EUR"),
    _aliexpress("fr", _("France"), ("fr", "en"), "EUR"),
    _aliexpress("de", _("Germany"), ("de", "en"), "EUR"),
    _aliexpress("it", _("Italy"), ("it", "en"), "EUR"),
    _aliexpress("mx", _("Mexico"), ("es", "en"), "MXN"),
    _aliexpress("br", _("Brazil"), ("pt", "en"), "BRL"),
    _aliexpress("ru", _("Russia"), ("ru", "en"), "RUB"),
    _aliexpress("us", _("United States"), ("en",), "USD"),
]}


def site_choices() -> list[tuple[str, str | Promise]]:
    # Lazy labels: model choices are read at import time, before any language is active.
    return [(site.code, format_lazy("{} {}", MARKETPLACE_NAMES[site.marketplace], site.name))
            for site in SITES.values()]


def get_site(code: str) -> Site:
    return SITES[code]
