"""Input checks of a product before any quota or model time is spent on it.

They read the quality facts computed at sync (catalog.quality): what gives good results is
a title with 3 core attribute words, parameters at least 85% complete and, for image work,
a clean main image at least 1200 px wide (PRODUCT.md, "Generation").
"""

from __future__ import annotations

from catalog.models import Product, QualityFlag
from generation.content import ContentKind

# Each content kind needs these inputs; the first problem found is the item's error code.
_TEXT_CHECKS = (
    (QualityFlag.FEW_ATTRIBUTE_WORDS, "ERR_INPUT_TITLE_ATTRIBUTES"),
    (QualityFlag.INCOMPLETE_PARAMETERS, "ERR_INPUT_PARAMETERS"),
)
_IMAGE_CHECKS = (
    (QualityFlag.NO_IMAGE, "ERR_INPUT_NO_IMAGE"),
    (QualityFlag.LOW_RESOLUTION_IMAGE, "ERR_VS_402"),
    (QualityFlag.WATERMARKED_IMAGE, "ERR_INPUT_IMAGE_WATERMARK"),
)
CHECKS_BY_KIND = {
    ContentKind.TITLE: _TEXT_CHECKS,
    ContentKind.BULLET_POINTS: _TEXT_CHECKS,
    ContentKind.SEARCH_TERMS: _TEXT_CHECKS,
    ContentKind.DETAIL_MODULES: _TEXT_CHECKS,
    ContentKind.IMAGE_DESCRIPTION: _IMAGE_CHECKS,
    # Scripts are written from the parameters and shot around the main image.
    ContentKind.VIDEO_SCRIPT: (_TEXT_CHECKS[1], *_IMAGE_CHECKS),
    ContentKind.LIVESTREAM_SCRIPT: (_TEXT_CHECKS[1],),
}


def input_problem(product: Product, kind: str) -> str:
    """The error code of the first input problem for `kind`, or "" when the input is fit."""
    flags = set(product.quality_flags or ())
    for flag, code in CHECKS_BY_KIND[kind]:
        if flag in flags:
            return code
    return ""


def main_image_url(product: Product) -> str | None:
    images = product.images or []
    first = images[0] if images else None
    if isinstance(first, dict):
        return first.get("url")
    return first if isinstance(first, str) else None
