"""Listing performance read from the marketplaces, and the effect of AI content on it.

- `EffectListing`: a listing (store, goods id) whose AI content was published, with its first
  AI publish: the day the baseline ends and the effect window starts.
- `DailyPerformance`: one row per listing and marketplace-local day (impressions, clicks,
  add-to-cart, orders, GMV). A PostgreSQL table range-partitioned by month (see
  effects.partitions and docs/effects.md); the migration creates it with SQL.
- `ListingVerdict`: the latest attribution of a listing (effects.attribution).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from catalog.models import Product
from generation.content import ContentKind
from generation.models import InstructionVersion
from stores.models import Store
from tenants.scope import TenantOwnedModel


class EffectListing(TenantOwnedModel):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    marketplace_id = models.CharField(_("marketplace goods ID"), max_length=64)
    first_published_at = models.DateTimeField(_("first AI publish"))
    publish_day = models.DateField(
        _("publish day"), help_text=_("The local day of the first AI publish: the baseline ends "
                                      "the day before, the effect window starts the day after."))
    content_kind = models.CharField(_("content kind"), max_length=30, choices=ContentKind.choices)
    instruction_version = models.ForeignKey(InstructionVersion, null=True, blank=True,
                                            on_delete=models.SET_NULL, related_name="+")
    baseline_synced_at = models.DateTimeField(
        _("baseline read at"), null=True, blank=True,
        help_text=_("When the days before the publish were read from the marketplace."))
    synced_through = models.DateField(_("read through"), null=True, blank=True)

    class Meta:
        verbose_name = _("listing with AI content")
        verbose_name_plural = _("listings with AI content")
        ordering = ["store", "marketplace_id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "marketplace_id"],
                                    name="one_effect_listing_per_goods"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id}:{self.marketplace_id}"


class DailyPerformance(TenantOwnedModel):
    """Partitioned by `day` (monthly ranges): the primary key in the database is (id, day)."""

    id = models.BigAutoField(primary_key=True)
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+",
                              db_constraint=False)
    marketplace_id = models.CharField(max_length=64)
    day = models.DateField()
    impressions = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    add_to_cart = models.PositiveIntegerField(default=0)
    orders = models.PositiveIntegerField(default=0)
    gmv = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, blank=True)
    fetched_at = models.DateTimeField()

    class Meta:
        verbose_name = _("daily listing performance")
        verbose_name_plural = _("daily listing performance")
        constraints = [
            models.UniqueConstraint(fields=["store", "marketplace_id", "day"],
                                    name="one_performance_row_per_listing_day"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id}:{self.marketplace_id}@{self.day}"


class ListingVerdict(TenantOwnedModel):
    class Verdict(models.TextChoices):
        EFFECTIVE = "effective", _("Effective")
        RULE_MET_NOT_SIGNIFICANT = "rule_met_not_significant", _("Rule met, not significant")
        NOT_EFFECTIVE = "not_effective", _("Not effective")
        NOT_ENOUGH_DATA = "not_enough_data", _("Not enough data yet")

    listing = models.OneToOneField(EffectListing, on_delete=models.CASCADE,
                                   related_name="verdict")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    verdict = models.CharField(_("verdict"), max_length=30, choices=Verdict.choices)
    reason = models.CharField(_("reason"), max_length=40)
    rule_met = models.BooleanField(_("marketplace rule met"), default=False)
    rule_days_met = models.PositiveSmallIntegerField(default=0)
    significant = models.BooleanField(_("statistically significant"), default=False)
    baseline_impressions = models.PositiveBigIntegerField(default=0)
    window_impressions = models.PositiveBigIntegerField(default=0)
    impressions_needed = models.PositiveBigIntegerField(default=0)
    baseline_ctr = models.FloatField(null=True, blank=True)
    window_ctr = models.FloatField(null=True, blank=True)
    ctr_ratio = models.FloatField(null=True, blank=True)
    ctr_ratio_low = models.FloatField(null=True, blank=True)
    ctr_ratio_high = models.FloatField(null=True, blank=True)
    ctr_p_value = models.FloatField(null=True, blank=True)
    baseline_cvr = models.FloatField(null=True, blank=True)
    window_cvr = models.FloatField(null=True, blank=True)
    cvr_noninferiority_p = models.FloatField(null=True, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("listing verdict")
        verbose_name_plural = _("listing verdicts")
        indexes = [models.Index(fields=["store", "verdict"], name="effects_verdict_store")]

    def __str__(self) -> str:
        return f"{self.listing_id}: {self.verdict}"


class Experiment(TenantOwnedModel):
    """An A/B test on one store's SKUs: arm A (control: the SKU keeps its current text, or
    instruction version A) against arm B (instruction version B), for at least 14 days."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        FINISHED = "finished", pgettext_lazy("experiment status", "Finished")
        STOPPED = "stopped", _("Stopped early")

    MIN_DAYS = 14

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=200)
    content_kind = models.CharField(_("content kind"), max_length=30, choices=ContentKind.choices)
    version_a = models.ForeignKey(
        InstructionVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("arm A"), help_text=_("Empty: control, the SKUs keep their current text."))
    version_b = models.ForeignKey(InstructionVersion, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("arm B"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.RUNNING)
    starts_on = models.DateField(_("first day"))
    planned_days = models.PositiveSmallIntegerField(_("planned days"), default=MIN_DAYS)
    seed = models.CharField(max_length=32, help_text=_("Seed of the random assignment."))
    created_by = models.ForeignKey("tenants.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("experiment")
        verbose_name_plural = _("experiments")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(planned_days__gte=14),
                                   name="experiment_runs_at_least_14_days"),
        ]

    def __str__(self) -> str:
        return self.name


class ExperimentAssignment(TenantOwnedModel):
    """Which arm a SKU is in: recorded once, never changed (sticky)."""

    class Arm(models.TextChoices):
        A = "a", _("Arm A")
        B = "b", _("Arm B")

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE,
                                   related_name="assignments")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    marketplace_id = models.CharField(max_length=64)
    arm = models.CharField(_("arm"), max_length=1, choices=Arm.choices)
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("experiment assignment")
        verbose_name_plural = _("experiment assignments")
        constraints = [
            models.UniqueConstraint(fields=["experiment", "product"],
                                    name="one_arm_per_sku_and_experiment"),
        ]

    def __str__(self) -> str:
        return f"{self.experiment_id}:{self.marketplace_id}={self.arm}"
