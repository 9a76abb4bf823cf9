"""Template filters of the composition layer (it may name every app's concepts)."""

from __future__ import annotations

from collections.abc import Iterable

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from generation.content import LANGUAGE_NAMES, ContentKind
from generation.instructions import _set_name as _shipped_name
from marketplaces.sites import MARKETPLACE_NAMES

register = template.Library()


@register.filter
def language_names(codes: Iterable[str]) -> str:
    """["en", "es"] -> "英语、西班牙语" / "English, Spanish" (never the raw codes)."""
    return _(", ").join(str(LANGUAGE_NAMES.get(code, code)) for code in codes or [])


@register.filter
def listed(labels: Iterable[object]) -> str:
    """Labels joined as the reader's language lists them ("标题、卖点" / "Title, Bullet points")."""
    return _(", ").join(str(label) for label in labels or [])


# Names that arrive as data but were written by us or by the marketplace in English: shown in
# the reader's language when they are the ones we know; anything else as it was written.
CATEGORY_NAMES = {
    "Apparel": pgettext_lazy("catalog category", "Apparel"),
    "Home": pgettext_lazy("catalog category", "Home"),
    "Beauty": pgettext_lazy("catalog category", "Beauty"),
    "Electronics": pgettext_lazy("catalog category", "Electronics"),
    "Toys": pgettext_lazy("catalog category", "Toys"),
    "Sports": pgettext_lazy("catalog category", "Sports"),
}
PACK_NAMES = {"Standard": pgettext_lazy("quota pack", "Standard")}


@register.filter
def category_label(category: str) -> str:
    """A marketplace category ("Apparel" -> "服装")."""
    return str(CATEGORY_NAMES.get(category, category or ""))


@register.filter
def pack_label(version) -> str:
    """A quota-pack version ("Standard v1" -> "标准版 v1"); ISV-named packs as named."""
    name = str(PACK_NAMES.get(version.pack.name, version.pack.name))
    return _("%(name)s v%(number)s") % {"name": name, "number": version.number}


@register.filter
def instruction_label(version) -> str:
    """An instruction version ("Temu: Title v1" -> "Temu：标题 v1"); a shipped set keeps its
    name in English in the database, so it is named here from its marketplace and kind."""
    instruction_set = version.instruction_set
    name = instruction_set.name
    if name == _shipped_name(instruction_set.kind, instruction_set.marketplace):
        name = _("%(marketplace)s: %(kind)s") % {
            "marketplace": MARKETPLACE_NAMES.get(instruction_set.marketplace,
                                                 instruction_set.marketplace),
            "kind": ContentKind(instruction_set.kind).label}
    return _("%(name)s v%(number)s") % {"name": name, "number": version.number}
