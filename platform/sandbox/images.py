"""Real image bytes for the marketplace sandbox: product-like drawings of the declared sizes.

Every product's images are drawn from its goods id and image number, so the same URL always
returns the same bytes (and the same ETag). The main image is a JPEG, extra images are PNGs.
Which images carry a flaw follows the pool's announced flags and, for the flaws the pool does
not announce (a real marketplace announces none of them), the goods id:

- `has_watermark` / `has_text` (pool flags): a shop-name watermark across the picture, or a
  promotional caption, in one of several scripts (Latin, Cyrillic, Chinese where a CJK font is
  installed; Latin otherwise);
- blurry main image: goods ids with `goods_id % BLUR_EVERY == BLUR_AT` (a Gaussian blur);
- near-copy: goods ids with `goods_id % NEAR_COPY_EVERY == NEAR_COPY_AT` show the
  previous product's main image, redrawn at this product's size and recompressed (the
  "low-quality duplicate" of AliExpress's rules).

Pillow only; no Django.
"""

from __future__ import annotations

import hashlib
import io
import random
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from sandbox import pool

BLUR_EVERY, BLUR_AT = 17, 5
NEAR_COPY_EVERY, NEAR_COPY_AT = 23, 7
JPEG_QUALITY = 88

_FONT_CANDIDATES = {
    "latin": ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",),
    "cyrillic": ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",),
    "cjk": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
            "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc"),
}
_CAPTIONS = {
    "latin": ("HOT SALE 50% OFF", "FREE SHIPPING", "BEST PRICE TODAY"),
    "cyrillic": ("СКИДКА 50%", "ХИТ ПРОДАЖ"),
    "cjk": ("限时特价 包邮", "热卖爆款"),
}
_WATERMARKS = {"latin": "SUNNY SHOP", "cyrillic": "МАГАЗИН", "cjk": "阳光小店"}
_PALETTE = ((200, 60, 60), (40, 110, 190), (60, 150, 90), (230, 160, 40), (120, 70, 160),
            (30, 30, 30), (210, 110, 150), (90, 120, 130))


def is_blurry(goods_id: int, number: int) -> bool:
    return number == 1 and goods_id % BLUR_EVERY == BLUR_AT


def is_near_copy(goods_id: int, number: int) -> bool:
    return number == 1 and goods_id % NEAR_COPY_EVERY == NEAR_COPY_AT


def content_type_for(path: str) -> str:
    return "image/png" if path.endswith(".png") else "image/jpeg"


def render(product: pool.Product, number: int) -> bytes:
    """The bytes of image `number` (1-based) of the product, of its declared size."""
    image = product.images[number - 1]
    drawing_seed = product.goods_id
    if is_near_copy(product.goods_id, number) and product.index > 0:
        drawing_seed = product.goods_id - 1  # the previous product's picture
    picture = _drawing(drawing_seed, number, image.width, image.height,
                       )
    if image.has_watermark or image.has_text:
        _overlay(picture, product.goods_id, watermark=image.has_watermark,
                 caption=image.has_text)
    if is_blurry(product.goods_id, number):
        picture = picture.filter(ImageFilter.GaussianBlur(radius=max(image.width / 150, 4)))
    out = io.BytesIO()
    if content_type_for(image.path) == "image/png":
        picture.save(out, "PNG", optimize=False, compress_level=3)
    else:
        picture.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


# -- drawing ------------------------------------------------------------------------------

def _drawing(seed: int, number: int, width: int, height: int) -> Image.Image:
    """A product on a light studio background: a body (box, bottle or round), a lid or handle,
    a label and a shadow; sharp outlines, so a sharp picture has edges that blur removes."""
    rng = random.Random(f"{seed}:{number}")  # noqa: S311 (reproducible drawings)
    background = tuple(rng.randint(200, 250) for _ in range(3))
    picture = Image.new("RGB", (width, height), background)
    # Studio light: a soft gradient across the backdrop, in a direction of its own.
    light = Image.linear_gradient("L").rotate(rng.choice((0, 90, 180, 270))).resize(
        (width, height))
    shade = Image.new("RGB", (width, height), tuple(c // 3 for c in background))
    picture = Image.composite(shade, picture, light.point(lambda v: v * 2 // 3))
    draw = ImageDraw.Draw(picture)
    side = min(width, height)
    # A studio backdrop: a darker floor band at a height of its own, and a prop beside the
    # product, so that two products' pictures differ in their broad layout as photos do.
    floor = int(height * rng.uniform(0.55, 0.8))
    draw.rectangle((0, floor, width, height), fill=tuple(c - rng.randint(25, 70)
                                                         for c in background))
    px, py = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.5) * height
    prop = side * rng.uniform(0.06, 0.14)
    draw.ellipse((px - prop, py - prop, px + prop, py + prop),
                 fill=tuple(rng.randint(60, 200) for _ in range(3)))
    cx = int(width * rng.uniform(0.38, 0.62))
    cy = int(height * rng.uniform(0.42, 0.58))
    half = int(side * rng.uniform(0.2, 0.33))
    color = rng.choice(_PALETTE)
    accent = rng.choice([c for c in _PALETTE if c != color])
    shape = rng.choice(("box", "bottle", "round"))
    draw.ellipse((cx - half, cy + half - side // 30, cx + half, cy + half + side // 25),
                 fill=tuple(max(c - 40, 0) for c in background))
    if shape == "box":
        body = (cx - half, cy - int(half * 0.8), cx + half, cy + half)
        draw.rectangle(body, fill=color, outline=(20, 20, 20), width=max(side // 300, 2))
    elif shape == "bottle":
        body = (cx - half // 2, cy - half, cx + half // 2, cy + half)
        draw.rounded_rectangle(body, radius=half // 4, fill=color, outline=(20, 20, 20),
                               width=max(side // 300, 2))
        draw.rectangle((cx - half // 6, cy - int(half * 1.25), cx + half // 6, cy - half),
                       fill=accent)
    else:
        body = (cx - half, cy - half, cx + half, cy + half)
        draw.ellipse(body, fill=color, outline=(20, 20, 20), width=max(side // 300, 2))
    draw.rectangle((cx - half // 4, cy - half // 5, cx + half // 4, cy + half // 5),
                   fill=(250, 250, 250), outline=(20, 20, 20), width=max(side // 400, 1))
    return picture


@lru_cache(maxsize=16)
def _font(script: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in _FONT_CANDIDATES[script]:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)


def _script_for(goods_id: int) -> str:
    script = ("latin", "cyrillic", "cjk")[goods_id % 3]
    if script != "latin" and not any(Path(p).exists() for p in _FONT_CANDIDATES[script]):
        return "latin"  # no font for it on this machine: Pillow's own font is Latin only
    return script


def _overlay(picture: Image.Image, goods_id: int, *, watermark: bool, caption: bool) -> None:
    width, height = picture.size
    side = min(width, height)
    script = _script_for(goods_id)
    if watermark:
        layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        font = _font(script, max(side // 14, 14))
        for row, y in enumerate(range(side // 10, height, side // 4)):
            x = (row % 2) * side // 5 + side // 20
            draw.text((x, y), _WATERMARKS[script], font=font, fill=(90, 90, 90, 150))
        picture.paste(Image.alpha_composite(picture.convert("RGBA"), layer).convert("RGB"))
    if caption:
        draw = ImageDraw.Draw(picture)
        font = _font(script, max(side // 12, 16))
        text = _CAPTIONS[script][goods_id % len(_CAPTIONS[script])]
        draw.rectangle((0, height - side // 7, width, height), fill=(220, 30, 30))
        draw.text((side // 20, height - side // 8), text, font=font, fill=(255, 255, 255))


# -- the model sandbox's images API ------------------------------------------------------

def generated_scene(prompt: str, width: int, height: int, source: bytes | None = None) -> bytes:
    """A deterministic 'generated' picture: a backdrop drawn from the prompt (the same prompt
    gives the same picture) and, for an edit, the source's product cut out of its background
    and placed on it. PNG."""
    seed = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:6], "big")
    picture = _drawing(seed, 9, width, height)
    if source:
        product = Image.open(io.BytesIO(source)).convert("RGB")
        product.thumbnail((width * 3 // 5, height * 3 // 5))
        picture.paste(product, ((width - product.width) // 2, (height - product.height) // 2))
    out = io.BytesIO()
    picture.save(out, "PNG", compress_level=3)
    return out.getvalue()
