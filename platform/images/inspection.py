"""Measuring an image from its pixels: size, text and watermarks, blur, perceptual hash.

Methods and thresholds (docs/images.md argues them):

- Size: decoded by Pillow (the header is not trusted; the image is fully loaded, so a
  truncated file fails). ERR_VS_402 below MIN_WIDTH (1200 px) wide.
- Text and watermarks: the PP-OCR text *detector* that ships inside the rapidocr-onnxruntime
  wheel (DBNet, ONNX; no download at run time), run on the image scaled to OCR_SIDE px on its
  long side. A region counts when its box is at least MIN_TEXT_HEIGHT_PERCENT of the image
  height tall (smaller marks are product texture or fine print on packaging). Watermarks are
  text (shop names, URLs) to the detector: one flag covers both. A region must also be a
  line, at least MIN_TEXT_ASPECT times as long as it is tall: the detector also answers,
  weakly, on blobs and the edges of flat shapes, and no caption of two or more characters
  is square; and at most MAX_TEXT_HEIGHT_PERCENT of the height tall (a taller "line" is the
  outline of the product). Recognition is not run: the
  rules refuse any text, whatever it says.
- Blur: the variance of the Laplacian of the grey image scaled to 512 px on its long side;
  under BLUR_THRESHOLD it is blurry (sharp product pictures score from about 60, wide
  banners lowest, usually in the hundreds; a Gaussian blur of a few pixels brings any of them
  under 5).
- Perceptual hash: imagehash's pHash (64 bits) of the image in RGB; recompressed or resized
  copies lie within a few bits, different products far apart (images.duplicates).
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

import imagehash
import numpy as np
from PIL import Image, ImageOps

from images.errors import ImageError

MIN_WIDTH = 1200
OCR_SIDE = 960
MIN_TEXT_HEIGHT_PERCENT = 1.5
MIN_TEXT_ASPECT = 2.0
MAX_TEXT_HEIGHT_PERCENT = 20.0
BLUR_THRESHOLD = 30.0
MAX_PIXELS = 50_000_000  # decompression bombs are refused above this

Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class InspectionError(ImageError):
    """An image could not be decoded or measured."""


@dataclass(frozen=True)
class Inspection:
    width: int
    height: int
    format: str
    text_boxes: int
    text_area_percent: float
    sharpness: float
    phash: str
    elapsed_ms: int

    @property
    def too_small(self) -> bool:
        return self.width < MIN_WIDTH

    @property
    def has_text(self) -> bool:
        return self.text_boxes > 0

    @property
    def is_blurry(self) -> bool:
        return self.sharpness < BLUR_THRESHOLD


# onnxruntime runs one inference per engine at a time reliably; threads of one worker share it.
_ocr_lock = threading.Lock()


@lru_cache(maxsize=1)
def _detector():
    from rapidocr_onnxruntime import RapidOCR

    # One thread per inference: a worker process runs one inspection per core.
    return RapidOCR(use_cls=False, use_rec=False, det_limit_side_len=OCR_SIDE,
                    det_limit_type="max", det_intra_op_num_threads=1,
                    det_inter_op_num_threads=1)


def decode(data: bytes) -> Image.Image:
    try:
        picture = Image.open(io.BytesIO(data))
        picture.load()
    except (OSError, Image.DecompressionBombError, ValueError) as error:
        raise InspectionError("ERR_IMAGE_DECODE", f"the image cannot be decoded: {error}"
                              ) from error
    picture = ImageOps.exif_transpose(picture)
    if picture.mode != "RGB":
        background = Image.new("RGB", picture.size, (255, 255, 255))
        rgba = picture.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        picture = background
    return picture


def detect_text(picture: Image.Image) -> tuple[int, float]:
    """(regions, percent of the area they cover) found by the OCR text detector."""
    scaled = picture.copy()
    scaled.thumbnail((OCR_SIDE, OCR_SIDE))
    array = np.asarray(scaled)[:, :, ::-1]  # RapidOCR takes OpenCV's BGR
    with _ocr_lock:
        boxes, _elapsed = _detector()(array, use_det=True, use_cls=False, use_rec=False)
    if not boxes:
        return 0, 0.0
    height = scaled.height
    count, area = 0, 0.0
    for box in boxes:
        points = np.asarray(box, dtype=np.float32)
        # The detector's boxes are rotated rectangles (4 corners in order).
        long_side = float(np.linalg.norm(points[1] - points[0]))
        short_side = float(np.linalg.norm(points[2] - points[1]))
        if short_side > long_side:
            long_side, short_side = short_side, long_side
        if short_side * 100 / height < MIN_TEXT_HEIGHT_PERCENT:
            continue  # fine print on packaging, texture
        if short_side * 100 / height > MAX_TEXT_HEIGHT_PERCENT:
            continue  # taller than any caption: the outline of the product itself
        if long_side < MIN_TEXT_ASPECT * short_side:
            continue  # a blob, not a line of text (edges of shapes, logos)
        count += 1
        area += long_side * short_side
    return count, round(area * 100 / (scaled.width * scaled.height), 2)


def sharpness(picture: Image.Image) -> float:
    grey = picture.convert("L")
    grey.thumbnail((512, 512))
    a = np.asarray(grey, dtype=np.float32)
    laplacian = 4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:]
    return round(float(laplacian.var()), 2)


def perceptual_hash(picture: Image.Image) -> str:
    return str(imagehash.phash(picture))


def inspect(data: bytes) -> Inspection:
    started = time.perf_counter()
    picture = decode(data)
    text_boxes, text_area = detect_text(picture)
    return Inspection(
        width=picture.width, height=picture.height,
        format=(Image.open(io.BytesIO(data)).format or "").lower(),
        text_boxes=text_boxes, text_area_percent=text_area, sharpness=sharpness(picture),
        phash=perceptual_hash(picture),
        elapsed_ms=int((time.perf_counter() - started) * 1000))
