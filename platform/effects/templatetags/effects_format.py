"""Template filters for rates and lifts: `{{ ctr|pct }}` -> "2.15%", `{{ ratio|lift }}` ->
"+12.3%" (a CTR ratio shown as the change), "—" when there is no value."""

from __future__ import annotations

from django import template
from django.utils.formats import number_format

register = template.Library()


def _number(value: float, digits: int) -> str:
    return number_format(round(value, digits), decimal_pos=digits)


@register.filter
def pct(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    return f"{_number(float(value) * 100, int(digits))}%"


@register.filter
def lift(ratio: float | None, digits: int = 1) -> str:
    """A ratio (1.123) as the change it means (+12.3%)."""
    if ratio is None:
        return "—"
    change = (float(ratio) - 1) * 100
    return f"{'+' if change >= 0 else '−'}{_number(abs(change), int(digits))}%"


@register.filter
def change(value: float | None, digits: int = 1) -> str:
    """A relative change (0.123) as +12.3%."""
    if value is None:
        return "—"
    return lift(1 + float(value), digits)
