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
