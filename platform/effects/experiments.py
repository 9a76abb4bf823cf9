"""A/B tests of listing content: SKUs randomised into two arms, sticky, for at least 14 days.

Arm A is the control (the SKU keeps its current text) or instruction version A; arm B is
instruction version B. The result compares the arms' CTR over the experiment's days:
- CUPED: each SKU's CTR is adjusted by its own CTR over the 28 days before the start
  (theta = cov(pre, during) / var(pre) over all SKUs), which removes most of the SKU-to-SKU
  spread and so narrows the interval;
- the lift of B over A (difference of adjusted mean CTRs, relative to A) with its 95% CI and a
  two-sided Welch test (statsmodels CompareMeans);
- a sample-ratio-mismatch check: chi-square of the SKUs that produced data per arm against the
  assigned split (scipy); p < 0.001 flags it (publishing failed in one arm, SKUs delisted...);
- the achieved power to detect +15% CTR (statsmodels TTestIndPower);
- no verdict before the planned end (fixed-horizon test; looking early and stopping on a good
  day would inflate false positives).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from django.db import connection, transaction
from django.utils.translation import gettext as _
from scipy import stats
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from catalog.models import Product
from effects.models import Experiment, ExperimentAssignment
from generation.models import InstructionVersion
from stores.models import Store
from tenants.models import User
from tenants.scope import require_tenant

PRE_DAYS = 28
SRM_ALPHA = 0.001
PLANNED_LIFT = 0.15
MIN_SKUS = 4


class ExperimentError(Exception):
    def __init__(self, message: str, *, code: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


def split(seed: str, product_ids: list[int]) -> dict[int, str]:
    """Complete randomisation: a random half (rounded down) to arm B, from the recorded seed,
    so the same seed always gives the same assignment."""
    ordered = sorted(set(product_ids))
    rng = np.random.default_rng(int(seed, 16))
    in_b = set(rng.permutation(len(ordered))[: len(ordered) // 2].tolist())
    return {pid: ExperimentAssignment.Arm.B if n in in_b else ExperimentAssignment.Arm.A
            for n, pid in enumerate(ordered)}


def create_experiment(*, store: Store, name: str, content_kind: str,
                      version_a: InstructionVersion | None, version_b: InstructionVersion,
                      product_ids: list[int], planned_days: int, by: User,
                      starts_on: date | None = None) -> Experiment:
    """Record the experiment and each SKU's arm (once: assignments never change)."""
    tenant = require_tenant()
    if planned_days < Experiment.MIN_DAYS:
        raise ExperimentError(_("An experiment runs at least %(days)d days.")
                              % {"days": Experiment.MIN_DAYS}, code="experiment_too_short",
                              field="planned_days")
    if version_a is not None and version_a.pk == version_b.pk:
        raise ExperimentError(_("Arm A and arm B need different instruction versions."),
                              code="experiment_same_arms", field="version_b")
    for version in (version_a, version_b):
        if version is not None and version.instruction_set.kind != content_kind:
            raise ExperimentError(_("The instruction versions must be for the content kind "
                                    "being tested."), code="experiment_wrong_kind",
                                  field="content_kind")
    products = list(Product.objects.filter(store=store, pk__in=product_ids))
    if len(products) < MIN_SKUS or len(products) != len(set(product_ids)):
        raise ExperimentError(_("Choose at least %(count)d SKUs of this store.")
                              % {"count": MIN_SKUS}, code="experiment_skus", field="products")
    busy = ExperimentAssignment.objects.filter(
        experiment__store=store, experiment__status=Experiment.Status.RUNNING,
        product__in=products).values_list("product__marketplace_id", flat=True)[:5]
    if busy:
        raise ExperimentError(_("Some SKUs are already in a running experiment: %(skus)s.")
                              % {"skus": ", ".join(busy)}, code="experiment_skus_busy",
                              field="products")
    seed = secrets.token_hex(8)
    arms = split(seed, [p.pk for p in products])
    with transaction.atomic():
        experiment = Experiment.objects.create(
            store=store, name=name, content_kind=content_kind, version_a=version_a,
            version_b=version_b, planned_days=planned_days, seed=seed, created_by=by,
            starts_on=starts_on or (_local_today(tenant.zone) + timedelta(days=1)))
        ExperimentAssignment.objects.bulk_create([
            ExperimentAssignment(experiment=experiment, tenant=tenant, product=p,
                                 marketplace_id=p.marketplace_id, arm=arms[p.pk])
            for p in products])
    return experiment


def arm_products(experiment: Experiment, arm: str) -> list[int]:
    """The SKUs of one arm (publishing is done per arm: generate arm B's SKUs with version B,
    leave a control arm alone)."""
    return list(experiment.assignments.filter(arm=arm).order_by("product_id")
                .values_list("product_id", flat=True))


def _local_today(zone) -> date:
    from django.utils import timezone

    return timezone.now().astimezone(zone).date()


@dataclass
class ArmResult:
    arm: str
    assigned: int
    with_data: int
    mean_ctr: float | None
    adjusted_ctr: float | None
    ctr_low: float | None
    ctr_high: float | None


@dataclass
class ExperimentResult:
    experiment: Experiment
    ends_on: date
    through: date | None
    days_done: int
    finished: bool
    arms: list[ArmResult] = field(default_factory=list)
    lift: float | None = None  # B over A, relative
    lift_low: float | None = None
    lift_high: float | None = None
    p_value: float | None = None
    cuped_theta: float | None = None
    variance_reduction: float | None = None
    srm_p_value: float | None = None
    sample_ratio_mismatch: bool = False
    achieved_power: float | None = None
    verdict: str | None = None  # None before the planned end

    @property
    def progress(self) -> float:
        return min(self.days_done / self.experiment.planned_days, 1.0)


_SKU_SUMS = """
SELECT a.product_id, a.arm,
       COALESCE(SUM(p.impressions) FILTER (WHERE p.day < %(start)s), 0),
       COALESCE(SUM(p.clicks) FILTER (WHERE p.day < %(start)s), 0),
       COALESCE(SUM(p.impressions) FILTER (WHERE p.day >= %(start)s), 0),
       COALESCE(SUM(p.clicks) FILTER (WHERE p.day >= %(start)s), 0)
FROM effects_experimentassignment a
LEFT JOIN effects_dailyperformance p
  ON p.store_id = %(store)s AND p.tenant_id = %(tenant)s
 AND p.marketplace_id = a.marketplace_id AND p.day BETWEEN %(pre)s AND %(through)s
WHERE a.experiment_id = %(experiment)s AND a.tenant_id = %(tenant)s
GROUP BY a.product_id, a.arm
"""


def analyze(experiment: Experiment, *, today: date | None = None) -> ExperimentResult:
    tenant = require_tenant()
    today = today or _local_today(tenant.zone)
    ends_on = experiment.starts_on + timedelta(days=experiment.planned_days - 1)
    through = min(ends_on, today - timedelta(days=1))
    days_done = max((through - experiment.starts_on).days + 1, 0)
    result = ExperimentResult(experiment=experiment, ends_on=ends_on,
                              through=through if days_done else None, days_done=days_done,
                              finished=today > ends_on)
    with connection.cursor() as cursor:
        cursor.execute(_SKU_SUMS, {
            "start": experiment.starts_on, "store": experiment.store_id, "tenant": tenant.pk,
            "pre": experiment.starts_on - timedelta(days=PRE_DAYS), "through": through,
            "experiment": experiment.pk})
        rows = cursor.fetchall()
    arms = np.array([row[1] for row in rows])
    pre_impr, pre_clicks, impr, clicks = (np.array([row[i] for row in rows], dtype=float)
                                          for i in (2, 3, 4, 5))
    usable = (pre_impr > 0) & (impr > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(usable, pre_clicks / pre_impr, np.nan)
        y = np.where(usable, clicks / impr, np.nan)
    x, y, arms_used = x[usable], y[usable], arms[usable]
    assigned = {arm: int((arms == arm).sum()) for arm in ("a", "b")}
    observed = {arm: int((arms_used == arm).sum()) for arm in ("a", "b")}
    adjusted = y.copy()
    if len(x) >= 3 and np.var(x) > 0:
        theta = float(np.cov(x, y)[0, 1] / np.var(x, ddof=1))
        adjusted = y - theta * (x - x.mean())
        result.cuped_theta = theta
        if np.var(y) > 0:
            result.variance_reduction = float(1 - np.var(adjusted) / np.var(y))
    for arm in ("a", "b"):
        values, raw = adjusted[arms_used == arm], y[arms_used == arm]
        low = high = None
        if len(values) >= 2:
            low, high = (float(v) for v in DescrStatsW(values).tconfint_mean())
        result.arms.append(ArmResult(
            arm=arm, assigned=assigned[arm], with_data=observed[arm],
            mean_ctr=float(raw.mean()) if len(raw) else None,
            adjusted_ctr=float(values.mean()) if len(values) else None,
            ctr_low=low, ctr_high=high))
    total = sum(observed.values())
    if total and sum(assigned.values()):
        share_a = assigned["a"] / sum(assigned.values())
        result.srm_p_value = float(stats.chisquare(
            [observed["a"], observed["b"]], f_exp=[total * share_a, total * (1 - share_a)]
        ).pvalue)
        result.sample_ratio_mismatch = result.srm_p_value < SRM_ALPHA
    a, b = adjusted[arms_used == "a"], adjusted[arms_used == "b"]
    if len(a) >= 2 and len(b) >= 2 and a.mean() > 0:
        compare = CompareMeans(DescrStatsW(b), DescrStatsW(a))
        low, high = compare.tconfint_diff(alpha=0.05, usevar="unequal")
        result.p_value = float(compare.ttest_ind(usevar="unequal")[1])
        base = float(a.mean())
        result.lift = float(b.mean() - base) / base
        result.lift_low, result.lift_high = float(low) / base, float(high) / base
        spread = float(np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2))
        if spread > 0:
            result.achieved_power = float(TTestIndPower().power(
                effect_size=PLANNED_LIFT * base / spread, nobs1=len(a), ratio=len(b) / len(a),
                alpha=0.05, alternative="two-sided"))
    if result.finished and result.p_value is not None:
        if result.p_value >= 0.05:
            result.verdict = "no_difference"
        else:
            result.verdict = "b_better" if (result.lift or 0) > 0 else "a_better"
    return result


def finish_due_experiments(today: date | None = None) -> int:
    """Mark running experiments past their planned end as finished (in the tenant in scope)."""
    tenant = require_tenant()
    today = today or _local_today(tenant.zone)
    finished = 0
    for experiment in Experiment.objects.filter(status=Experiment.Status.RUNNING):
        if today > experiment.starts_on + timedelta(days=experiment.planned_days - 1):
            experiment.status = Experiment.Status.FINISHED
            experiment.save(update_fields=["status"])
            finished += 1
    return finished
