"""Input-quality checks of a marketplace product, computed at sync (pure functions, no I/O).

The rules come from what gives good AI results (PRODUCT.md, "Generation"): a title with at
least 3 core attribute words, product parameters at least 85% complete, a main image at least
1200 px wide and free of watermarks and text. Generation reads the flags before spending quota.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

from catalog.models import QualityFlag
from marketplaces.connectors import Goods

MIN_ATTRIBUTE_WORDS = 3
MIN_PARAMETER_COMPLETENESS = Decimal("85")
MIN_IMAGE_WIDTH = 1200

# Part of every content hash: changing a rule above (or how it is computed) must make the
# next sync re-assess every product, so bump this with any such change.
QUALITY_RULES_VERSION = 1

_PERCENT = Decimal("0.01")

# What each flag means for the seller, and what to do about it.
QUALITY_FLAG_HELP = {
    QualityFlag.FEW_ATTRIBUTE_WORDS: _(
        "The title names fewer than 3 of the product's attributes (material, colour, size, "
        "...); titles with at least 3 core attribute words give the best AI titles."),
    QualityFlag.INCOMPLETE_PARAMETERS: _(
        "Only part of the product parameters is filled in (under 85%); the model writes from "
        "them, so complete them in the seller center."),
    QualityFlag.LOW_RESOLUTION_IMAGE: _(
        "The main image is under 1200 px wide: image descriptions are refused (ERR_VS_402)."),
    QualityFlag.WATERMARKED_IMAGE: _(
        "The main image carries a watermark or text: such images are refused."),
    QualityFlag.NO_IMAGE: _("The product has no image: no image description can be written."),
    QualityFlag.BLURRY_IMAGE: _(
        "The main image is blurred (measured on its pixels): blurred images are refused."),
    QualityFlag.DUPLICATE_IMAGE: _(
        "The main image is nearly identical to another SKU's of this store: AliExpress pauses "
        "a seller for 72 hours for low-quality duplicates. Use a picture of its own."),
}


@dataclass(frozen=True)
class QualityReport:
    attribute_word_count: int
    parameter_completeness: Decimal  # percent, two decimals
    main_image_width: int | None
    flags: list[str]  # QualityFlag values, in the order of QualityFlag


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def attribute_words_in_title(goods: Goods) -> int:
    """How many of the product's distinct attribute values appear in its title.

    A value counts when it appears as whole words (case-insensitive, punctuation ignored):
    "Black" counts in "Men's black cotton T-shirt", "Cotton" does not count in "Cottonwood".
    """
    title = f" {_normalise(goods.title)} "
    values = {_normalise(str(value)) for value in goods.attributes.values() if value}
    return sum(1 for value in values if value and f" {value} " in title)


def parameter_completeness(goods: Goods) -> Decimal:
    """Percent of the product's parameters that have a value (0 when it has none at all)."""
    if not goods.parameters:
        return Decimal("0.00")
    filled = sum(1 for value in goods.parameters.values()
                 if value is not None and str(value).strip())
    percent = Decimal(filled * 100) / Decimal(len(goods.parameters))
    return percent.quantize(_PERCENT, rounding=ROUND_HALF_UP)


def main_image_width(goods: Goods) -> int | None:
    return goods.images[0].width if goods.images else None


def quality_flags(goods: Goods) -> list[str]:
    return assess(goods).flags


def assess(goods: Goods) -> QualityReport:
    words = attribute_words_in_title(goods)
    completeness = parameter_completeness(goods)
    width = main_image_width(goods)
    found: set[str] = set()
    if words < MIN_ATTRIBUTE_WORDS:
        found.add(QualityFlag.FEW_ATTRIBUTE_WORDS)
    if completeness < MIN_PARAMETER_COMPLETENESS:
        found.add(QualityFlag.INCOMPLETE_PARAMETERS)
    if not goods.images:
        found.add(QualityFlag.NO_IMAGE)
    else:
        main = goods.images[0]
        if main.width < MIN_IMAGE_WIDTH:
            found.add(QualityFlag.LOW_RESOLUTION_IMAGE)
        if main.has_watermark or main.has_text:
            found.add(QualityFlag.WATERMARKED_IMAGE)
    flags = [flag.value for flag in QualityFlag if flag in found]
    return QualityReport(words, completeness, width, flags)


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot hash {type(value).__name__}")


def content_hash(goods: Goods) -> str:
    """SHA-256 of everything the sync stores about the goods (and of the quality rules).

    Stable across processes and runs: canonical JSON with sorted keys; dict order and
    Decimal representation ("9.90" vs "9.9") do not change the hash.
    """
    # Built by hand: dataclasses.asdict deep-copies every value and is several times slower.
    data = {
        "marketplace_id": goods.marketplace_id, "sku": goods.sku, "title": goods.title,
        "category": goods.category, "description": goods.description,
        "attributes": goods.attributes, "parameters": goods.parameters,
        "images": [(image.url, image.width, image.height, image.has_watermark, image.has_text)
                   for image in goods.images],
        "bullet_points": goods.bullet_points, "search_terms": goods.search_terms,
        "price": None if goods.price is None else str(goods.price.quantize(_PERCENT)),
        "currency": goods.currency,
    }
    payload = {"rules": QUALITY_RULES_VERSION, "goods": data}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=_json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
