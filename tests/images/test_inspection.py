"""Inspection on pixels: the sandbox's drawings and images made here, measured for real (Pillow,
the PP-OCR detector in the rapidocr wheel, imagehash)."""

from __future__ import annotations

import io

import imagehash
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from images import inspection
from sandbox import images as sandbox_images
from sandbox import pool, shops

SHOP = shops.SHOPS[shops.TEMU_SHOP_300]
CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"


def product(index: int) -> pool.Product:
    return pool.product(SHOP.shop_id, SHOP.seed, index)


def jpeg(picture: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=quality)
    return out.getvalue()


def sandbox_main(index: int) -> bytes:
    return sandbox_images.render(product(index), 1)


def indices_where(predicate, count: int) -> list[int]:
    found = [i for i in range(SHOP.sku_count) if predicate(product(i))]
    assert len(found) >= count
    return found[:count]


CLEAN = indices_where(lambda p: not p.flaws and not sandbox_images.is_blurry(p.goods_id, 1)
                      and not sandbox_images.is_near_copy(p.goods_id, 1), 4)
OVERLAID = indices_where(lambda p: p.images[0].has_watermark, 4)
SMALL = indices_where(lambda p: p.images[0].width < 1200 and not p.images[0].has_watermark
                      and not sandbox_images.is_blurry(p.goods_id, 1), 2)
BLURRY = indices_where(lambda p: sandbox_images.is_blurry(p.goods_id, 1), 2)


@pytest.mark.parametrize("index", CLEAN + SMALL)
def test_clean_sandbox_images_have_no_text_and_are_sharp(index):
    item = product(index)
    result = inspection.inspect(sandbox_main(index))
    assert (result.width, result.height) == (item.images[0].width, item.images[0].height)
    assert result.format == "jpeg"
    assert result.text_boxes == 0
    assert not result.is_blurry
    assert result.too_small == (item.images[0].width < 1200)


@pytest.mark.parametrize("index", OVERLAID)
def test_watermarks_and_captions_are_found_by_the_ocr_detector(index):
    result = inspection.inspect(sandbox_main(index))
    assert result.has_text, result
    assert result.text_area_percent > 1


@pytest.mark.parametrize("index", BLURRY)
def test_blurred_main_images_are_blurry(index):
    result = inspection.inspect(sandbox_main(index))
    assert result.is_blurry and result.sharpness < inspection.BLUR_THRESHOLD
    assert result.text_boxes == 0


def test_extra_images_are_pngs_of_their_declared_size():
    item = product(CLEAN[0])
    for number, declared in enumerate(item.images[1:], start=2):
        result = inspection.inspect(sandbox_images.render(item, number))
        assert result.format == "png"
        assert (result.width, result.height) == (declared.width, declared.height)


@pytest.mark.parametrize("script,text", [("cyrillic", "СКИДКА 50% ХИТ"), ("cjk", "限时特价 包邮")])
def test_text_in_other_scripts_is_found(script, text):
    picture = Image.open(io.BytesIO(sandbox_main(CLEAN[1]))).convert("RGB")
    if script == "cjk":
        try:
            font = ImageFont.truetype(CJK_FONT, picture.height // 12)
        except OSError:
            pytest.skip("no CJK font on this machine to draw with")
    else:
        font = ImageFont.load_default(size=picture.height // 12)
        text = "SALE 50% OFF TODAY"  # Pillow's own font has Latin glyphs only
    ImageDraw.Draw(picture).text((picture.width // 10, picture.height // 12), text,
                                 font=font, fill=(20, 20, 20))
    assert inspection.inspect(jpeg(picture)).has_text


def test_a_blur_of_a_few_pixels_is_measured_on_any_picture():
    picture = Image.open(io.BytesIO(sandbox_main(CLEAN[2]))).convert("RGB")
    sharp = inspection.inspect(jpeg(picture))
    blurred = inspection.inspect(jpeg(picture.filter(ImageFilter.GaussianBlur(6))))
    assert not sharp.is_blurry and blurred.is_blurry


def test_perceptual_hash_survives_recompression_and_resizing_but_not_another_product():
    original = Image.open(io.BytesIO(sandbox_main(CLEAN[0]))).convert("RGB")
    copy = jpeg(original.resize((original.width // 2, original.height // 2)), quality=60)
    other = sandbox_main(CLEAN[3])
    base = imagehash.hex_to_hash(inspection.inspect(sandbox_main(CLEAN[0])).phash)
    assert base - imagehash.hex_to_hash(inspection.inspect(copy).phash) <= 2
    assert base - imagehash.hex_to_hash(inspection.inspect(other).phash) > 8


def test_sandbox_near_copies_hash_like_the_product_they_copy():
    index = indices_where(lambda p: sandbox_images.is_near_copy(p.goods_id, 1)
                          and not p.flaws and not product(p.index - 1).flaws, 1)[0]
    mine = imagehash.hex_to_hash(inspection.inspect(sandbox_main(index)).phash)
    previous = imagehash.hex_to_hash(inspection.inspect(sandbox_main(index - 1)).phash)
    assert mine - previous <= 2


@pytest.mark.parametrize("data", [b"", b"not an image at all",
                                  jpeg(Image.new("RGB", (64, 64)))[:200]])
def test_undecodable_bytes_are_an_inspection_error(data):
    with pytest.raises(inspection.InspectionError) as raised:
        inspection.inspect(data)
    assert raised.value.code == "ERR_IMAGE_DECODE"


def test_png_with_transparency_is_flattened_on_white():
    picture = Image.new("RGBA", (1300, 1300), (0, 0, 0, 0))
    ImageDraw.Draw(picture).ellipse((300, 300, 1000, 1000), fill=(200, 30, 30, 255))
    out = io.BytesIO()
    picture.save(out, "PNG")
    result = inspection.inspect(out.getvalue())
    assert (result.width, result.format, result.text_boxes) == (1300, "png", 0)
    assert inspection.decode(out.getvalue()).getpixel((10, 10)) == (255, 255, 255)
