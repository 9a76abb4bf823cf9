"""The product pool synced from each store, and the record of every sync run."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from stores.models import Store
from tenants.scope import TenantOwnedModel


class QualityFlag(models.TextChoices):
    """Input-quality problems found at sync; generation checks them before spending quota."""

    FEW_ATTRIBUTE_WORDS = "few_attribute_words", _("Title has fewer than 3 attribute words")
    INCOMPLETE_PARAMETERS = "incomplete_parameters", _("Parameters filled in: under 85%")
    LOW_RESOLUTION_IMAGE = "low_resolution_image", _("Main image under 1200 px wide")
    WATERMARKED_IMAGE = "watermarked_image", _("Main image has a watermark or text")
    NO_IMAGE = "no_image", _("No image")
    BLURRY_IMAGE = "blurry_image", _("Main image is blurred")
    DUPLICATE_IMAGE = "duplicate_image", _("Main image nearly identical to another SKU's")


class Product(TenantOwnedModel):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="products")
    marketplace_id = models.CharField(_("marketplace goods ID"), max_length=64)
    sku = models.CharField(_("SKU"), max_length=100, blank=True)
    title = models.TextField(_("title"))
    category = models.CharField(_("category"), max_length=200, blank=True, db_index=True)
    description = models.TextField(_("description"), blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    images = models.JSONField(_("images"), default=list, blank=True)
    bullet_points = models.JSONField(_("bullet points"), default=list, blank=True)
    search_terms = models.JSONField(_("search terms"), default=list, blank=True)
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2, null=True,
                                blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    content_hash = models.CharField(max_length=64)
    attribute_word_count = models.PositiveSmallIntegerField(default=0)
    parameter_completeness = models.DecimalField(max_digits=5, decimal_places=2, default=0,
                                                 help_text=_("Percent of parameters filled in."))
    main_image_width = models.PositiveIntegerField(null=True, blank=True)
    quality_flags = models.JSONField(_("quality flags"), default=list, blank=True)
    first_synced_at = models.DateTimeField(auto_now_add=True)
    last_synced_at = models.DateTimeField()

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["store", "marketplace_id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "marketplace_id"],
                                    name="one_product_per_store_and_goods_id"),
        ]

    def __str__(self) -> str:
        return self.title[:80]


class SyncRun(TenantOwnedModel):
    """One pass over a store's goods. At most one run per store is active (queued or running):
    the database refuses a second one."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="sync_runs")
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    pages = models.PositiveIntegerField(_("pages"), default=0)
    total_reported = models.PositiveIntegerField(_("SKUs on the marketplace"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    over_limit = models.PositiveIntegerField(_("over the SKU limit"), default=0)
    sku_limit = models.PositiveIntegerField(_("SKU limit"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True,
        help_text=_("Last sign of life of the worker running it; a run without one for "
                    "longer than a task may last was interrupted."))
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    error_message = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["store"], condition=models.Q(status__in=["queued",
                                                                                    "running"]),
                                    name="one_active_sync_run_per_store"),
        ]
        indexes = [models.Index(fields=["store", "-started_at"], name="syncrun_store_latest")]

    def __str__(self) -> str:
        return f"{self.store_id} #{self.pk} {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def processed(self) -> int:
        return self.created + self.updated + self.unchanged

    @property
    def progress_percent(self) -> int:
        """How far the run is, against what it will sync (the marketplace's total, capped by
        the SKU limit)."""
        target = self.total_reported
        if self.sku_limit is not None:
            target = min(target, self.sku_limit)
        if not target:
            return 100 if self.status == self.Status.SUCCEEDED else 0
        return min(100, self.processed * 100 // target)
