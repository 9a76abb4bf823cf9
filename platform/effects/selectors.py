"""Reads of the effect loop: per-listing effect with its daily series and chart, and the
aggregates per store, tenant, instruction version and content kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from statsmodels.stats.proportion import confint_proportions_2indep

from effects import attribution
from effects.models import DailyPerformance, EffectListing, ListingVerdict
from effects.services import rule_for
from stores.models import Store

GROUPINGS = {
    "store": "store_id",
    "tenant": "tenant_id",
    "instruction_version": "listing__instruction_version_id",
    "content_kind": "listing__content_kind",
}


def reason_text(verdict: ListingVerdict, rule: attribution.RuleSettings) -> str:
    """Why the listing got its verdict, in the user's language."""
    lift = f"{rule.ctr_lift_min:.0%}"
    days = rule.rule_days
    texts = {
        attribution.REASON_WINDOW_INCOMPLETE: _(
            "The %(days)d days after the publish are not all in yet.") % {"days": days},
        attribution.REASON_BASELINE_SHORT: _(
            "Fewer than %(days)d days of the baseline before the publish were reported.")
        % {"days": rule.min_baseline_days},
        attribution.REASON_BELOW_POWER: _(
            "Too few impressions to tell a %(lift)s lift from chance: about %(needed)s more "
            "are needed.") % {"lift": lift, "needed": f"{verdict.impressions_needed:,}"},
        attribution.REASON_RULE_AND_TEST: _(
            "CTR was up at least %(lift)s on each of the %(days)d days with CVR steady, and the "
            "lift is statistically significant.") % {"lift": lift, "days": days},
        attribution.REASON_RULE_ONLY: _(
            "CTR was up at least %(lift)s on each of the %(days)d days with CVR steady, but over "
            "the whole window the lift could still be chance.") % {"lift": lift, "days": days},
        attribution.REASON_TEST_ONLY: _(
            "CTR rose significantly, but not by %(lift)s on each of the %(days)d days (met on "
            "%(met)d).") % {"lift": lift, "days": days, "met": verdict.rule_days_met},
        attribution.REASON_NEITHER: _(
            "The marketplace rule was met on %(met)d of %(days)d days and the lift is not "
            "significant.") % {"met": verdict.rule_days_met, "days": days},
    }
    return texts.get(verdict.reason, verdict.reason)


# -- aggregates ------------------------------------------------------------------------------

@dataclass
class EffectSummary:
    key: Any
    listings: int = 0
    judged: int = 0  # with enough data for a verdict
    effective: int = 0
    rule_met: int = 0
    not_enough_data: int = 0
    average_lift: float | None = None
    lift_low: float | None = None
    lift_high: float | None = None
    label: str = ""

    @property
    def effective_share(self) -> float | None:
        return self.effective / self.judged if self.judged else None


def summarize(verdicts: QuerySet[ListingVerdict], by: str) -> list[EffectSummary]:
    """The share of effective listings (of those with enough data) and the average lift with
    its 95% CI, per `by` (one of GROUPINGS)."""
    column = GROUPINGS[by]
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in verdicts.values(column, "verdict", "rule_met", "ctr_ratio"):
        groups.setdefault(row[column], []).append(row)
    summaries = []
    for key, rows in groups.items():
        judged = [r for r in rows if r["verdict"] != ListingVerdict.Verdict.NOT_ENOUGH_DATA]
        lift = attribution.lift_summary([r["ctr_ratio"] for r in judged])
        summaries.append(EffectSummary(
            key=key, listings=len(rows), judged=len(judged),
            effective=sum(r["verdict"] == ListingVerdict.Verdict.EFFECTIVE for r in rows),
            rule_met=sum(bool(r["rule_met"]) for r in rows),
            not_enough_data=len(rows) - len(judged), average_lift=lift["average_lift"],
            lift_low=lift["lift_low"], lift_high=lift["lift_high"]))
    return sorted(summaries, key=lambda s: (str(s.key)))


def version_effect(version_id: int) -> EffectSummary:
    """The effect of one instruction version's published texts over every tenant's listings
    (ISV staff's console): how many listings, how many judged, effective and average lift."""
    found = summarize(ListingVerdict.unscoped.filter(listing__instruction_version_id=version_id),
                      "instruction_version")
    return found[0] if found else EffectSummary(key=version_id)


def store_summary(store: Store) -> EffectSummary:
    found = summarize(ListingVerdict.objects.filter(store=store), "store")
    return found[0] if found else EffectSummary(key=store.pk)


def verdict_counts(store: Store) -> dict[str, int]:
    counts = dict.fromkeys(ListingVerdict.Verdict.values, 0)
    for verdict in ListingVerdict.objects.filter(store=store).values_list("verdict", flat=True):
        counts[verdict] += 1
    return counts


def store_listings(store: Store, verdict: str | None = None) -> QuerySet[EffectListing]:
    listings = (EffectListing.objects.filter(store=store)
                .select_related("product", "verdict", "instruction_version__instruction_set")
                .order_by("-publish_day", "marketplace_id"))
    if verdict:
        listings = listings.filter(verdict__verdict=verdict)
    return listings


# -- one listing -----------------------------------------------------------------------------

@dataclass
class Day:
    day: date
    offset: int
    impressions: int
    clicks: int
    orders: int
    ctr: float | None
    cvr: float | None
    ratio_low: float | None = None
    ratio_high: float | None = None
    in_window: bool = False
    in_baseline: bool = False


@dataclass
class ListingEffect:
    listing: EffectListing
    verdict: ListingVerdict | None
    rule: attribution.RuleSettings
    days: list[Day] = field(default_factory=list)
    reason: str = ""
    chart_ctr: dict[str, Any] = field(default_factory=dict)
    chart_cvr: dict[str, Any] = field(default_factory=dict)

    @property
    def window_start(self) -> date:
        return self.listing.publish_day + timedelta(days=1)

    @property
    def window_end(self) -> date:
        return self.listing.publish_day + timedelta(days=self.rule.rule_days)


def listing_effect(listing: EffectListing) -> ListingEffect:
    rule = rule_for(listing.store.site.marketplace.value)
    verdict = ListingVerdict.objects.filter(listing=listing).first()
    first = listing.publish_day - timedelta(days=rule.baseline_days)
    last = listing.publish_day + timedelta(days=rule.stat_max_days)
    rows = (DailyPerformance.objects
            .filter(store=listing.store, marketplace_id=listing.marketplace_id,
                    day__range=(first, last)).order_by("day")
            .values_list("day", "impressions", "clicks", "orders"))
    days = []
    for day, impressions, clicks, orders in rows:
        offset = (day - listing.publish_day).days
        days.append(Day(day=day, offset=offset, impressions=impressions, clicks=clicks,
                        orders=orders, ctr=clicks / impressions if impressions else None,
                        cvr=orders / clicks if clicks else None,
                        in_window=1 <= offset <= rule.rule_days, in_baseline=offset < 0))
    base = [d for d in days if d.in_baseline]
    base_impressions = sum(d.impressions for d in base)
    base_clicks = sum(d.clicks for d in base)
    post = [d for d in days if d.offset > 0 and d.impressions > 0]
    if base_clicks and post:
        with np.errstate(divide="ignore", invalid="ignore"):
            low, high = confint_proportions_2indep(
                np.array([d.clicks for d in post]), np.array([d.impressions for d in post]),
                base_clicks, base_impressions, compare="ratio", method="log")
        for d, lo, hi in zip(post, np.atleast_1d(low), np.atleast_1d(high), strict=True):
            d.ratio_low = float(lo) if np.isfinite(lo) else None
            d.ratio_high = float(hi) if np.isfinite(hi) else None
    effect = ListingEffect(listing=listing, verdict=verdict, rule=rule, days=days)
    effect.reason = reason_text(verdict, rule) if verdict else _("Not judged yet.")
    baseline_ctr = verdict.baseline_ctr if verdict else None
    baseline_cvr = verdict.baseline_cvr if verdict else None
    effect.chart_ctr = line_chart(days, "ctr", rule, baseline_ctr,
                                  threshold=baseline_ctr * (1 + rule.ctr_lift_min)
                                  if baseline_ctr else None)
    effect.chart_cvr = line_chart(days, "cvr", rule, baseline_cvr)
    return effect


# -- the chart (server-rendered SVG, no script) ----------------------------------------------

CHART_WIDTH, CHART_HEIGHT, PAD = 720, 220, 36


def line_chart(days: list[Day], metric: str, rule: attribution.RuleSettings,
               baseline: float | None, threshold: float | None = None) -> dict[str, Any]:
    """Coordinates for templates/effects/_chart.svg: the daily line, the baseline, the rule's
    threshold, the publish day and the 7-day window."""
    first, last = -rule.baseline_days, rule.stat_max_days
    values = [getattr(d, metric) for d in days if getattr(d, metric) is not None]
    top = max([*values, baseline or 0, threshold or 0, 1e-9]) * 1.15

    def x(offset: float) -> float:
        return round(PAD + (offset - first) / (last - first) * (CHART_WIDTH - 2 * PAD), 1)

    def y(value: float) -> float:
        return round(CHART_HEIGHT - PAD - value / top * (CHART_HEIGHT - 2 * PAD), 1)

    points = " ".join(f"{x(d.offset)},{y(getattr(d, metric))}" for d in days
                      if getattr(d, metric) is not None)
    ticks = [{"y": y(top * share / 1.15), "label": f"{top * share / 1.15:.1%}"}
             for share in (0, 0.5, 1)]
    return {
        "width": CHART_WIDTH, "height": CHART_HEIGHT, "points": points,
        "publish_x": x(0), "window_x": x(0.5), "window_width": round(
            x(rule.rule_days + 0.5) - x(0.5), 1),
        "baseline_y": y(baseline) if baseline else None,
        "threshold_y": y(threshold) if threshold else None,
        "left": PAD, "right": CHART_WIDTH - PAD, "bottom": CHART_HEIGHT - PAD, "top": PAD,
        "plot_height": CHART_HEIGHT - 2 * PAD, "tick_x": PAD - 4, "caption_y": PAD - 6,
        "axis_label_y": CHART_HEIGHT - 16, "window_right": x(rule.rule_days + 0.5),
        "ticks": ticks, "threshold_label": f"+{rule.ctr_lift_min:.0%}",
        "first_label": f"{first}", "last_label": f"+{last}",
        "dots": [{"x": x(d.offset), "y": y(getattr(d, metric)), "window": d.in_window}
                 for d in days if getattr(d, metric) is not None],
    }


def instruction_version_labels(ids: list[Any]) -> dict[Any, str]:
    """"Instruction set vN" for the given instruction version ids (ISV-wide, not tenant data)."""
    from generation.models import InstructionVersion

    versions = InstructionVersion.objects.filter(pk__in=[i for i in ids if i is not None]) \
        .select_related("instruction_set")
    return {version.pk: f"{version.instruction_set} v{version.number}" for version in versions}


def eligible_products(store: Store, count: int) -> list[int]:
    """A random sample of `count` of the store's products that are in no running experiment
    (the sample for a new experiment; the arms are drawn afterwards)."""
    from catalog.models import Product
    from effects.models import Experiment, ExperimentAssignment

    busy = ExperimentAssignment.objects.filter(
        experiment__store=store, experiment__status=Experiment.Status.RUNNING
    ).values("product_id")
    return list(Product.objects.filter(store=store).exclude(pk__in=busy).order_by("?")
                .values_list("pk", flat=True)[:count])
