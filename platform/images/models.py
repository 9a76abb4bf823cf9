"""What the platform measured on each product image: its real size, type, text or watermark,
blur and perceptual hash. Inspection fills it from the downloaded pixels (images.services)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.models import Product
from tenants.scope import TenantOwnedModel


def images_storage():
    """STORAGES["images"]: the local filesystem by default, S3-compatible object storage when
    IMAGES_S3_BUCKET is set (django-storages)."""
    from images.storage import images_storage as lazy

    return lazy


class SourceImage(TenantOwnedModel):
    """One image of a product as the marketplace serves it (position 0 is the main image)."""

    class Status(models.TextChoices):
        INSPECTED = "inspected", _("Inspected")
        FAILED = "failed", _("Could not be inspected")

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="source_images")
    position = models.PositiveSmallIntegerField(_("position"))
    url = models.CharField(_("address"), max_length=1000)
    etag = models.CharField(max_length=200, blank=True)
    content_sha256 = models.CharField(max_length=64, blank=True)
    content_type = models.CharField(_("type"), max_length=40, blank=True)
    byte_size = models.PositiveIntegerField(_("bytes"), default=0)
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    text_boxes = models.PositiveSmallIntegerField(
        _("text regions"), default=0,
        help_text=_("Regions the OCR text detector found: captions, watermarks, stickers."))
    text_area_percent = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    sharpness = models.FloatField(
        _("sharpness"), null=True, blank=True,
        help_text=_("Variance of the Laplacian of the grey image scaled to 512 px."))
    phash = models.CharField(_("perceptual hash"), max_length=16, blank=True)
    file = models.FileField(_("file"), storage=images_storage, blank=True,
                            upload_to="sources/%Y/%m/", max_length=300,
                            help_text=_("A copy of the main image, for review."))
    near_duplicate_of = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("near-duplicate of"),
        help_text=_("Another SKU of the store whose main image is nearly identical."))
    near_duplicate_distance = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.INSPECTED)
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    error_message = models.TextField(_("error"), blank=True)
    downloads = models.PositiveIntegerField(default=0)
    inspection_ms = models.PositiveIntegerField(default=0)
    checked_at = models.DateTimeField(_("checked"))
    inspected_at = models.DateTimeField(_("inspected"), null=True, blank=True)

    class Meta:
        verbose_name = _("source image")
        verbose_name_plural = _("source images")
        ordering = ["product", "position"]
        constraints = [
            models.UniqueConstraint(fields=["product", "position"],
                                    name="one_source_image_per_product_position"),
        ]
        indexes = [models.Index(fields=["tenant", "phash"], name="sourceimage_tenant_phash")]

    def __str__(self) -> str:
        return f"{self.product_id}#{self.position}"

    @property
    def has_text(self) -> bool:
        return self.text_boxes > 0


def _variant_path(variant: ImageVariant, filename: str) -> str:
    return (f"variants/{variant.tenant_id}/{variant.source.product_id}/"
            f"{variant.marketplace}-{filename}")


class ImageVariant(TenantOwnedModel):
    """One marketplace size made from a product's main image (images.variants)."""

    source = models.ForeignKey(SourceImage, on_delete=models.CASCADE, related_name="variants")
    marketplace = models.CharField(_("marketplace"), max_length=20)
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    file = models.FileField(_("file"), storage=images_storage, upload_to=_variant_path,
                            max_length=300)
    byte_size = models.PositiveIntegerField(_("bytes"))
    max_bytes = models.PositiveIntegerField(_("file limit"))
    content_sha256 = models.CharField(max_length=64)
    source_sha256 = models.CharField(
        max_length=64, help_text=_("The source bytes it was made from: unchanged, not remade."))
    jpeg_quality = models.PositiveSmallIntegerField(default=90)
    elapsed_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("image variant")
        verbose_name_plural = _("image variants")
        ordering = ["source", "marketplace", "-width", "-height"]
        constraints = [
            models.UniqueConstraint(fields=["source", "marketplace", "width", "height"],
                                    name="one_variant_per_source_and_size"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.marketplace} {self.width}x{self.height}"


class ImageNode(models.Model):
    """The capability "image" of a model node: it answers OpenAI's images API
    (/v1/images/generations and /v1/images/edits), as self-hosted Stable Diffusion servers and
    cloud image models do. Kept beside the node (generation.ModelNode) by the images app."""

    node = models.OneToOneField("generation.ModelNode", on_delete=models.CASCADE,
                                related_name="image_capability")
    price_per_image = models.DecimalField(_("price per image (CNY)"), max_digits=8,
                                          decimal_places=4, default=Decimal("0.1400"))
    size = models.CharField(_("size asked for"), max_length=12, default="1024x1024")

    class Meta:
        verbose_name = _("image capability")
        verbose_name_plural = _("image capabilities")

    def __str__(self) -> str:
        return f"{self.node_id} image"


class GeneratedImage(TenantOwnedModel):
    """A main-image scene a model node made from a product's main image; reviewed per image."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    product = models.ForeignKey(Product, on_delete=models.CASCADE,
                                related_name="generated_images")
    source = models.ForeignKey(SourceImage, null=True, on_delete=models.SET_NULL,
                               related_name="+")
    source_sha256 = models.CharField(max_length=64)
    preset = models.CharField(_("style"), max_length=40)
    prompt = models.TextField(_("instruction"))
    node_name = models.CharField(_("node"), max_length=100)
    file = models.FileField(_("file"), storage=images_storage, upload_to="generated/%Y/%m/",
                            max_length=300)
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    phash = models.CharField(_("perceptual hash"), max_length=16)
    cost = models.DecimalField(_("cost (CNY)"), max_digits=10, decimal_places=2,
                               default=Decimal("0.00"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.PENDING)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("generated image")
        verbose_name_plural = _("generated images")
        ordering = ["product", "-created_at"]

    def __str__(self) -> str:
        return f"{self.product_id} {self.preset} {self.status}"
