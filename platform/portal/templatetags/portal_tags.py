"""Template filters of the composition layer (it may name every app's concepts)."""

from __future__ import annotations

from collections.abc import Iterable

from django import template
from django.utils.translation import gettext as _

from generation.content import LANGUAGE_NAMES

register = template.Library()


@register.filter
def language_names(codes: Iterable[str]) -> str:
    """["en", "es"] -> "英语、西班牙语" / "English, Spanish" (never the raw codes)."""
    return _(", ").join(str(LANGUAGE_NAMES.get(code, code)) for code in codes or [])


@register.filter
def listed(labels: Iterable[object]) -> str:
    """Labels joined as the reader's language lists them ("标题、卖点" / "Title, Bullet points")."""
    return _(", ").join(str(label) for label in labels or [])
