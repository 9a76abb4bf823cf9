"""Money: exact decimal CNY, rounded to the fen, and the one way it is written for people.

Every page, e-mail and export formats an amount through `format_cny` (templates: the `cny`
filter), so an amount always shows exactly two decimals in the reader's language.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import format_decimal
from django.utils.translation import get_language, to_locale

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
_PATTERN = "#,##0.00"


def to_cny(amount: Decimal | int | str) -> Decimal:
    """The amount rounded half up to the fen. Floats are refused: they are not exact."""
    if isinstance(amount, float):
        raise TypeError("money must be Decimal, int or str, not float")
    return Decimal(amount).quantize(FEN, rounding=ROUND_HALF_UP)


def format_cny(amount: Decimal | int | str, *, grouping: bool = True) -> str:
    """'1,234.50' in the active language's number format; without grouping '1234.50'
    (CSV cells, which spreadsheets read as numbers)."""
    value = to_cny(amount)
    if not grouping:
        return f"{value:.2f}"
    locale = to_locale(get_language() or "en").replace("-", "_")
    return format_decimal(value, format=_PATTERN, locale=_babel_locale(locale),
                          decimal_quantization=True)


def _babel_locale(django_locale: str) -> str:
    # Django's "zh_Hans" is Babel's "zh_Hans_CN" family; both group by thousands with ",".
    return {"zh_Hans": "zh_Hans_CN"}.get(django_locale, django_locale)
