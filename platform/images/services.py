"""Inspecting a product's images: download (only when changed), measure, record, and set the
product's image quality flags from the pixels (not from the marketplace's metadata)."""

from __future__ import annotations

import hashlib
import logging
from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from catalog.models import Product, QualityFlag
from images import duplicates, fetch, inspection, sizes, variants
from images.models import ImageVariant, SourceImage

logger = logging.getLogger(__name__)

# The flags inspection owns: sync's provisional values are replaced by what the pixels show.
IMAGE_FLAGS = (QualityFlag.LOW_RESOLUTION_IMAGE, QualityFlag.WATERMARKED_IMAGE,
               QualityFlag.BLURRY_IMAGE, QualityFlag.DUPLICATE_IMAGE)


def inspect_product_images(product: Product) -> list[SourceImage]:
    """Bring the product's SourceImage rows up to date with its image list and its flags up to
    date with the main image. Raises fetch.DownloadError only when retrying may help."""
    existing = {row.position: row for row in SourceImage.objects.filter(product=product)}
    rows = [_inspect_one(product, position, str(entry.get("url", "")), existing.get(position))
            for position, entry in enumerate(product.images or [])]
    SourceImage.objects.filter(product=product, position__gte=len(rows)).delete()
    main = rows[0] if rows else None
    if main is not None and main.status == SourceImage.Status.INSPECTED:
        for other_id in duplicates.mark(product, main):
            other = Product.objects.filter(pk=other_id).first()
            if other is not None:
                apply_quality_flags(other, SourceImage.objects.filter(
                    product=other, position=0).first())
    apply_quality_flags(product, main)
    return rows


def _inspect_one(product: Product, position: int, url: str,
                 row: SourceImage | None) -> SourceImage:
    now = timezone.now()
    known = row is not None and row.url == url and row.status == SourceImage.Status.INSPECTED
    if row is None:
        row = SourceImage(tenant_id=product.tenant_id, product=product, position=position)
    row.checked_at = now
    try:
        got = fetch.download(url, etag=row.etag if known else "")
    except fetch.DownloadError as error:
        if error.retryable:
            raise
        return _failed(row, url, error.code, error.message)
    if known and (got.data is None or got.sha256 == row.content_sha256):
        # Unchanged (304 Not Modified, or the same bytes): keep the measurement.
        row.etag = got.etag or row.etag
        row.save(update_fields=["etag", "checked_at"])
        if position == 0 and not _variants_current(product, row):
            got = fetch.download(url) if got.data is None else got
            make_variants(product, row, got.data or b"")
        return row
    if got.data is None:  # a 304 for an image we had no measurement of: fetch it whole
        got = fetch.download(url)
    row.downloads += 1
    try:
        measured = inspection.inspect(got.data or b"")
    except inspection.InspectionError as error:
        return _failed(row, url, error.code, error.message, got=got)
    row.url, row.etag, row.content_sha256 = url, got.etag, got.sha256
    row.content_type, row.byte_size = got.content_type, len(got.data or b"")
    row.width, row.height = measured.width, measured.height
    row.text_boxes = measured.text_boxes
    row.text_area_percent = Decimal(str(measured.text_area_percent))
    row.sharpness, row.phash = measured.sharpness, measured.phash
    row.status, row.error_code, row.error_message = SourceImage.Status.INSPECTED, "", ""
    row.inspection_ms, row.inspected_at = measured.elapsed_ms, now
    row.save()
    if position == 0:
        if row.file:
            row.file.delete(save=False)
        row.file.save(f"{product.pk}-{got.sha256[:16]}.{got.content_type.split('/')[-1]}",
                      ContentFile(got.data or b""))
        make_variants(product, row, got.data or b"")
    return row


def _variants_current(product: Product, source: SourceImage) -> bool:
    wanted = {(size.width, size.height)
              for size in sizes.sizes_for(product.store.site.marketplace.value, product.category)}
    have = set(ImageVariant.objects.filter(source=source, source_sha256=source.content_sha256)
               .values_list("width", "height"))
    return wanted <= have


def make_variants(product: Product, source: SourceImage, data: bytes) -> list[ImageVariant]:
    """The main-image sizes of the product's marketplace, made from the source bytes and
    stored (STORAGES["images"]); sizes that no longer apply are removed."""
    marketplace = product.store.site.marketplace.value
    wanted = sizes.sizes_for(marketplace, product.category)
    picture = inspection.decode(data)
    made: list[ImageVariant] = []
    for size in wanted:
        try:
            result = variants.make(picture, size)
        except variants.VariantError as error:
            logger.warning("variant %s of product %s: %s", size.name, product.pk, error.message)
            continue
        variant = ImageVariant.objects.filter(source=source, marketplace=marketplace,
                                              width=size.width, height=size.height).first()
        if variant is None:
            variant = ImageVariant(tenant_id=product.tenant_id, source=source,
                                   marketplace=marketplace, width=size.width,
                                   height=size.height)
        elif variant.file:
            variant.file.delete(save=False)
        variant.byte_size, variant.max_bytes = len(result.data), size.max_bytes
        variant.content_sha256 = hashlib.sha256(result.data).hexdigest()
        variant.source_sha256 = source.content_sha256
        variant.jpeg_quality, variant.elapsed_ms = result.quality, result.elapsed_ms
        variant.file.save(f"{size.name}-{variant.content_sha256[:12]}.jpg",
                          ContentFile(result.data), save=False)
        variant.save()
        made.append(variant)
    stale = ImageVariant.objects.filter(source=source).exclude(pk__in=[v.pk for v in made])
    for variant in stale:
        variant.file.delete(save=False)
        variant.delete()
    return made


def _failed(row: SourceImage, url: str, code: str, message: str,
            got: fetch.Downloaded | None = None) -> SourceImage:
    row.url, row.status, row.error_code, row.error_message = (
        url, SourceImage.Status.FAILED, code, message[:1000])
    row.etag = ""  # download it again next time
    if got is not None:
        row.content_sha256, row.byte_size = got.sha256, len(got.data or b"")
    row.save()
    logger.info("image %s of product %s not inspected: %s %s", row.position, row.product_id,
                code, message)
    return row


def apply_quality_flags(product: Product, main: SourceImage | None) -> None:
    """The main image's flags from its measurement. Without a measurement (no image, or it
    could not be downloaded) the product keeps what sync gave it."""
    if main is None or main.status != SourceImage.Status.INSPECTED:
        return
    flags = set(product.quality_flags or []) - {flag.value for flag in IMAGE_FLAGS}
    if main.width is not None and main.width < inspection.MIN_WIDTH:
        flags.add(QualityFlag.LOW_RESOLUTION_IMAGE.value)
    if main.has_text:
        flags.add(QualityFlag.WATERMARKED_IMAGE.value)
    if main.sharpness is not None and main.sharpness < inspection.BLUR_THRESHOLD:
        flags.add(QualityFlag.BLURRY_IMAGE.value)
    if main.near_duplicate_of_id is not None:
        flags.add(QualityFlag.DUPLICATE_IMAGE.value)
    ordered = [flag.value for flag in QualityFlag if flag.value in flags]
    with transaction.atomic():
        Product.objects.filter(pk=product.pk).update(quality_flags=ordered,
                                                     main_image_width=main.width)
    product.quality_flags, product.main_image_width = ordered, main.width
