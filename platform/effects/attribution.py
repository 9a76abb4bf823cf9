"""Effect attribution: the marketplace's rule, and the statistics beside it.

Plain functions over numpy arrays, one row per listing, so a store's 5,000 listings are judged
in one pass (no database here; effects.services loads the counts and stores the verdicts).

Days are counted from the listing's publish day (day 0, excluded everywhere: it is half old,
half new content):
- the baseline: the `baseline_days` (28) days before day 0;
- the rule's window: days 1..`rule_days` (7), the marketplace's label;
- the statistics' window: days 1..`stat_max_days` (28), as far as the data reaches.

The rule (settings.EFFECT_RULES per marketplace, docs/effects.md): CTR up at least
`ctr_lift_min` (15%) over the pooled baseline CTR on each of the 7 days, while CVR moves less
than `cvr_tolerance` (2%) either way: per day in percentage points ("points", the default),
per day relative to the baseline CVR ("relative", the literal reading, which practically never
passes), or relative on the window's pooled CVR ("relative_pooled").

The statistics:
- CTR: the ratio of window to baseline CTR (geometric mean of the daily CTRs, from the daily
  counts) with a 95% confidence interval, and a one-sided Welch t-test of lift > 0 on the daily
  log CTRs; the pooled CTRs of both periods are shown beside it. Days, not impressions, are
  the unit: the weekly cycle and promotion days make daily CTRs vary more than binomial noise,
  and a test that pooled impressions would call that variation an effect at high traffic.
- CVR: non-inferiority on pooled clicks (statsmodels' two-proportion test of the ratio against
  1 - `cvr_noninferiority_margin`, one-sided), reported beside the verdict.
- Minimum data: the impressions per arm a one-sided 5% test needs for 80% power to detect the
  rule's +15% at the listing's baseline CTR (statsmodels NormalIndPower, Cohen's h). Below it
  in either arm the verdict is "not enough data", with the impressions still needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize, test_proportions_2indep

EFFECTIVE = "effective"
RULE_MET_NOT_SIGNIFICANT = "rule_met_not_significant"
NOT_EFFECTIVE = "not_effective"
NOT_ENOUGH_DATA = "not_enough_data"

# Reasons (effects.selectors turns them into sentences).
REASON_WINDOW_INCOMPLETE = "window_incomplete"
REASON_BASELINE_SHORT = "baseline_short"
REASON_BELOW_POWER = "below_power_threshold"
REASON_RULE_AND_TEST = "rule_and_test"
REASON_RULE_ONLY = "rule_only"
REASON_TEST_ONLY = "test_only"
REASON_NEITHER = "neither"

CVR_MODES = ("points", "relative", "relative_pooled")
PRIOR_CTR = 0.02  # the typical listing CTR, for planning before a baseline click exists


@dataclass(frozen=True)
class RuleSettings:
    ctr_lift_min: float = 0.15
    rule_days: int = 7
    cvr_tolerance: float = 0.02
    cvr_mode: str = "points"
    baseline_days: int = 28
    min_baseline_days: int = 14
    stat_max_days: int = 28
    alpha: float = 0.05
    power: float = 0.80
    cvr_noninferiority_margin: float = 0.10

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RuleSettings:
        rule = cls(**values)
        if rule.cvr_mode not in CVR_MODES:
            raise ValueError(f"cvr_mode must be one of {CVR_MODES}, not {rule.cvr_mode!r}")
        return rule


@dataclass
class Counts:
    """Per listing (rows) and day (columns): baseline days -baseline_days..-1, then post days
    1..stat_max_days. `*_seen` says whether the marketplace reported the day."""

    base_impressions: np.ndarray
    base_clicks: np.ndarray
    base_orders: np.ndarray
    base_seen: np.ndarray
    post_impressions: np.ndarray
    post_clicks: np.ndarray
    post_orders: np.ndarray
    post_seen: np.ndarray

    @classmethod
    def empty(cls, listings: int, rule: RuleSettings) -> Counts:
        def zeros(days: int, dtype: Any = np.int64) -> np.ndarray:
            return np.zeros((listings, days), dtype=dtype)

        return cls(zeros(rule.baseline_days), zeros(rule.baseline_days),
                   zeros(rule.baseline_days), zeros(rule.baseline_days, bool),
                   zeros(rule.stat_max_days), zeros(rule.stat_max_days),
                   zeros(rule.stat_max_days), zeros(rule.stat_max_days, bool))


@dataclass
class Results:
    verdict: np.ndarray  # str
    reason: np.ndarray  # str
    rule_met: np.ndarray
    rule_days_met: np.ndarray
    significant: np.ndarray
    baseline_impressions: np.ndarray
    window_impressions: np.ndarray
    impressions_needed: np.ndarray
    baseline_ctr: np.ndarray
    window_ctr: np.ndarray
    ctr_ratio: np.ndarray
    ctr_ratio_low: np.ndarray
    ctr_ratio_high: np.ndarray
    ctr_p_value: np.ndarray
    baseline_cvr: np.ndarray
    window_cvr: np.ndarray
    cvr_noninferiority_p: np.ndarray

    def row(self, index: int) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and not np.isfinite(value):
                return None
            return value

        return {name: plain(getattr(self, name)[index]) for name in self.__dataclass_fields__}


_ONE_SIDED_N_AT_H1: dict[tuple[float, float], float] = {}


def impressions_per_arm(baseline_ctr: np.ndarray, rule: RuleSettings) -> np.ndarray:
    """Impressions each arm needs to detect the rule's lift at the baseline CTR (one-sided
    test at `alpha`, `power`). For the normal approximation n scales as 1/h^2 exactly, so the
    solver runs once, at h = 1."""
    key = (rule.alpha, rule.power)
    if key not in _ONE_SIDED_N_AT_H1:
        _ONE_SIDED_N_AT_H1[key] = float(NormalIndPower().solve_power(
            effect_size=1.0, alpha=rule.alpha, power=rule.power, ratio=1.0,
            alternative="larger"))
    ctr = np.clip(np.nan_to_num(baseline_ctr, nan=0.0), 1e-6, 0.5)
    h = proportion_effectsize(np.minimum(ctr * (1 + rule.ctr_lift_min), 0.999), ctr)
    return np.ceil(_ONE_SIDED_N_AT_H1[key] / h ** 2)


def rule_check(counts: Counts, base_ctr: np.ndarray, base_cvr: np.ndarray,
               rule: RuleSettings) -> tuple[np.ndarray, np.ndarray]:
    """(rule met, days that met it) on the first `rule_days` post days."""
    days = slice(0, rule.rule_days)
    impressions, clicks = counts.post_impressions[:, days], counts.post_clicks[:, days]
    orders, seen = counts.post_orders[:, days], counts.post_seen[:, days]
    with np.errstate(divide="ignore", invalid="ignore"):
        ctr = clicks / impressions
        cvr = orders / clicks
        ctr_ok = ctr >= base_ctr[:, None] * (1 + rule.ctr_lift_min)
        if rule.cvr_mode == "points":
            cvr_ok = np.abs(cvr - base_cvr[:, None]) < rule.cvr_tolerance
        elif rule.cvr_mode == "relative":
            cvr_ok = np.abs(cvr / base_cvr[:, None] - 1) < rule.cvr_tolerance
        else:
            pooled = orders.sum(axis=1) / clicks.sum(axis=1)
            cvr_ok = np.broadcast_to(
                (np.abs(pooled / base_cvr - 1) < rule.cvr_tolerance)[:, None], ctr.shape)
    day_ok = seen & (impressions > 0) & (clicks > 0) & ctr_ok & cvr_ok
    days_met = day_ok.sum(axis=1)
    return days_met == rule.rule_days, days_met


def attribute(counts: Counts, rule: RuleSettings) -> Results:
    base_impr = (counts.base_impressions * counts.base_seen).sum(axis=1)
    base_clicks = (counts.base_clicks * counts.base_seen).sum(axis=1)
    base_orders = (counts.base_orders * counts.base_seen).sum(axis=1)
    post_impr = (counts.post_impressions * counts.post_seen).sum(axis=1)
    post_clicks = (counts.post_clicks * counts.post_seen).sum(axis=1)
    post_orders = (counts.post_orders * counts.post_seen).sum(axis=1)
    base_days = counts.base_seen.sum(axis=1)
    post_days = counts.post_seen.sum(axis=1)
    rule_window_complete = counts.post_seen[:, :rule.rule_days].all(axis=1)

    with np.errstate(divide="ignore", invalid="ignore"):
        base_ctr = base_clicks / base_impr
        post_ctr = post_clicks / post_impr
        base_cvr = base_orders / base_clicks
        post_cvr = post_orders / post_clicks

        # Daily log CTR (0.5 added to clicks so a click-less day stays finite).
        def daily(impressions: np.ndarray, clicks: np.ndarray, seen: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            values = np.where(seen, np.log((clicks + 0.5) / (impressions + 1.0)), np.nan)
            n = seen.sum(axis=1)
            mean = np.nanmean(np.where(n[:, None] > 0, values, 0.0), axis=1)
            std = np.sqrt(np.nansum((values - mean[:, None]) ** 2, axis=1) / (n - 1))
            return mean, std, n

        mean_b, std_b, n_b = daily(counts.base_impressions, counts.base_clicks, counts.base_seen)
        mean_p, std_p, n_p = daily(counts.post_impressions, counts.post_clicks, counts.post_seen)
        test = stats.ttest_ind_from_stats(mean_p, std_p, n_p, mean_b, std_b, n_b,
                                          equal_var=False, alternative="greater")
        p_value = np.asarray(test.pvalue, dtype=float)
        # The ratio and its interval from the same daily model: the geometric mean of the daily
        # CTRs after over before, Welch's standard error with its Satterthwaite degrees of
        # freedom, the t quantile from scipy. (The impression-pooled ratio would let one
        # promotion day's traffic decide it.)
        ratio = np.exp(mean_p - mean_b)
        var_p, var_b = std_p ** 2 / n_p, std_b ** 2 / n_b
        se = np.sqrt(var_p + var_b)
        dof = (var_p + var_b) ** 2 / (var_p ** 2 / (n_p - 1) + var_b ** 2 / (n_b - 1))
        half = stats.t.ppf(0.975, dof) * se
        ratio_low, ratio_high = ratio * np.exp(-half), ratio * np.exp(half)

        cvr_test = test_proportions_2indep(
            np.maximum(post_orders, 0), np.maximum(post_clicks, 1), np.maximum(base_orders, 0),
            np.maximum(base_clicks, 1), value=1 - rule.cvr_noninferiority_margin,
            compare="ratio", alternative="larger", method="log")
        cvr_p = np.where((post_orders > 0) & (base_orders > 0),
                         np.asarray(cvr_test.pvalue, dtype=float), np.nan)

    # Without a baseline click yet, plan with a typical CTR (PRIOR_CTR) instead.
    needed = impressions_per_arm(np.where(base_clicks > 0, base_ctr, PRIOR_CTR), rule)
    still_needed = np.maximum(needed - post_impr, 0) + np.maximum(needed - base_impr, 0)
    rule_met, rule_days_met = rule_check(counts, base_ctr, base_cvr, rule)
    significant = np.nan_to_num(p_value, nan=1.0) < rule.alpha

    listings = len(base_impr)
    verdict = np.full(listings, NOT_EFFECTIVE, dtype=object)
    reason = np.full(listings, REASON_NEITHER, dtype=object)
    reason[significant & ~rule_met] = REASON_TEST_ONLY
    verdict[rule_met & ~significant] = RULE_MET_NOT_SIGNIFICANT
    reason[rule_met & ~significant] = REASON_RULE_ONLY
    verdict[rule_met & significant] = EFFECTIVE
    reason[rule_met & significant] = REASON_RULE_AND_TEST
    low_power = (base_clicks == 0) | (post_impr < needed) | (base_impr < needed)
    for mask, why in ((low_power, REASON_BELOW_POWER),
                      (base_days < rule.min_baseline_days, REASON_BASELINE_SHORT),
                      (~rule_window_complete | (post_days < rule.rule_days),
                       REASON_WINDOW_INCOMPLETE)):
        verdict[mask] = NOT_ENOUGH_DATA
        reason[mask] = why
    still_needed = np.where(verdict == NOT_ENOUGH_DATA, still_needed, 0)

    return Results(
        verdict=verdict, reason=reason, rule_met=rule_met, rule_days_met=rule_days_met,
        significant=significant, baseline_impressions=base_impr, window_impressions=post_impr,
        impressions_needed=still_needed.astype(np.int64), baseline_ctr=base_ctr,
        window_ctr=post_ctr, ctr_ratio=ratio, ctr_ratio_low=ratio_low,
        ctr_ratio_high=ratio_high, ctr_p_value=p_value, baseline_cvr=base_cvr,
        window_cvr=post_cvr, cvr_noninferiority_p=cvr_p)


def lift_summary(ratios: list[float]) -> dict[str, float | int | None]:
    """Average lift over listings (geometric mean of the CTR ratios) with its 95% CI
    (t interval on the log ratios, statsmodels DescrStatsW)."""
    from statsmodels.stats.weightstats import DescrStatsW

    logs = np.log(np.array([r for r in ratios if r is not None and r > 0], dtype=float))
    if len(logs) == 0:
        return {"listings": 0, "average_lift": None, "lift_low": None, "lift_high": None}
    mean = float(np.exp(logs.mean()) - 1)
    if len(logs) < 2:
        return {"listings": 1, "average_lift": mean, "lift_low": None, "lift_high": None}
    low, high = DescrStatsW(logs).tconfint_mean(alpha=0.05)
    return {"listings": len(logs), "average_lift": mean, "lift_low": float(np.exp(low) - 1),
            "lift_high": float(np.exp(high) - 1)}
