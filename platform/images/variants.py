"""Making the marketplaces' main-image sizes from a source image: trim, then pad on white.

Why padding and not cropping: the sizes range from 1:1 to 3.2:1 (1920x600); any crop of a
square product photo to 3.2:1 cuts the product, and the rules refuse images where the product
is not whole. So the product is kept whole: the source's uniform border (the studio
background, measured from the corners) is trimmed, a margin of MARGIN_PERCENT is kept around
what remains, and it is scaled to fit the target and centred on white. Nothing is enlarged
beyond the source's own pixels x MAX_UPSCALE (a blurry enlargement is worse than a smaller
product on white). JPEG, quality stepped down until it fits the marketplace's file limit.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

from PIL import Image, ImageChops

from images.errors import ImageError
from images.sizes import Size

MARGIN_PERCENT = 6
TRIM_TOLERANCE = 18  # grey levels: JPEG noise on a flat background stays under this
MAX_UPSCALE = 2.0
BOX_SIDE = 400
QUALITIES = (90, 85, 80, 72, 65)


class VariantError(ImageError):
    """A marketplace size could not be made within its limits."""


@dataclass(frozen=True)
class Made:
    size: Size
    data: bytes
    quality: int
    elapsed_ms: int


def product_box(picture: Image.Image) -> tuple[int, int, int, int]:
    """The region that differs from the background colour (the top-left corner's), found on
    a copy at most BOX_SIDE px on its long side (cheap) and scaled back, rounded outwards."""
    small = picture.copy()
    small.thumbnail((BOX_SIDE, BOX_SIDE), Image.Resampling.NEAREST)
    background = Image.new("RGB", small.size, picture.getpixel((0, 0)))
    difference = ImageChops.difference(small, background).convert("L")
    mask = difference.point(lambda v: 255 if v > TRIM_TOLERANCE else 0)
    box = mask.getbbox()
    if box is None:
        return (0, 0, picture.width, picture.height)
    fx, fy = picture.width / small.width, picture.height / small.height
    return (max(int(box[0] * fx) - 1, 0), max(int(box[1] * fy) - 1, 0),
            min(int(box[2] * fx + 1.999), picture.width),
            min(int(box[3] * fy + 1.999), picture.height))


def compose(picture: Image.Image, size: Size) -> Image.Image:
    left, top, right, bottom = product_box(picture)
    margin_x = (right - left) * MARGIN_PERCENT // 100
    margin_y = (bottom - top) * MARGIN_PERCENT // 100
    box = (max(left - margin_x, 0), max(top - margin_y, 0),
           min(right + margin_x, picture.width), min(bottom + margin_y, picture.height))
    product = picture.crop(box)
    scale = min(size.width / product.width, size.height / product.height, MAX_UPSCALE)
    fitted = product.resize((max(1, round(product.width * scale)),
                             max(1, round(product.height * scale))), Image.Resampling.BICUBIC,
                            reducing_gap=2.0)
    canvas = Image.new("RGB", (size.width, size.height), (255, 255, 255))
    canvas.paste(fitted, ((size.width - fitted.width) // 2, (size.height - fitted.height) // 2))
    return canvas


def make(picture: Image.Image, size: Size) -> Made:
    started = time.perf_counter()
    canvas = compose(picture, size)
    for quality in QUALITIES:
        out = io.BytesIO()
        canvas.save(out, "JPEG", quality=quality)
        if out.tell() <= size.max_bytes:
            return Made(size, out.getvalue(), quality,
                        int((time.perf_counter() - started) * 1000))
    raise VariantError("ERR_IMAGE_VARIANT_TOO_LARGE",
                       f"{size.name} does not fit in {size.max_bytes} bytes")
