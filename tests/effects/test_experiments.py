"""A/B tests: sticky randomised assignment, at least 14 days, CUPED, the sample-ratio check,
achieved power, and no verdict before the planned end."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest

from effects import experiments, services
from effects.experiments import ExperimentError
from effects.models import Experiment, ExperimentAssignment
from generation.instructions import ensure_default_library
from generation.models import InstructionVersion
from marketplaces.connectors import DailyPerformance as Row
from sandbox.traffic import draw_days
from tenants.scope import tenant_scope
from tests.review.conftest import make_product

pytestmark = pytest.mark.django_db
START = date(2026, 6, 1)


def versions() -> tuple[InstructionVersion, InstructionVersion]:
    ensure_default_library()
    first = InstructionVersion.objects.filter(instruction_set__kind="title",
                                              instruction_set__marketplace="temu").first()
    second = InstructionVersion.objects.create(instruction_set=first.instruction_set,
                                               number=first.number + 100, text="Version B")
    return first, second


def experiment_for(desk, skus: int = 40, *, fixed_arms: bool = True, **kwargs) -> Experiment:
    """An experiment over `skus` new SKUs. With fixed_arms, its random split is replaced by
    alternating arms in product order, so that `feed`'s seeded traffic, and so the result,
    are the same on every run (a random split would make a 95% interval miss 1 run in 20)."""
    version_a, version_b = versions()
    with tenant_scope(desk.tenant):
        products = [make_product(desk.store) for _ in range(skus)]
        experiment = experiments.create_experiment(
            store=desk.store, name="Long titles", content_kind="title", version_a=version_a,
            version_b=version_b, product_ids=[p.pk for p in products],
            planned_days=kwargs.pop("planned_days", 14), by=desk.owner, starts_on=START,
            **kwargs)
        if fixed_arms:
            for index, assignment in enumerate(experiment.assignments.order_by("product_id")):
                assignment.arm = "ab"[index % 2]
                assignment.save(update_fields=["arm"])
        return experiment


def feed(desk, experiment: Experiment, lift: float, seed: int = 3,
         skip_b: int = 0) -> None:
    """Daily rows from the sandbox's noise model: 28 days before the start and the 14 days of
    the experiment; each SKU its own CTR level; arm B's CTR x (1 + lift) during."""
    rng = np.random.default_rng(seed)
    rows = []
    skipped = 0
    with tenant_scope(desk.tenant):
        assignments = list(experiment.assignments.order_by("product_id"))
    for assignment in assignments:
        if assignment.arm == "b" and skipped < skip_b:
            skipped += 1
            continue
        ctr = float(rng.lognormal(np.log(0.02), 0.5))
        for offset in range(-28, 14):
            day = START + timedelta(days=offset)
            during_lift = lift if offset >= 0 and assignment.arm == "b" else 0.0
            drawn = draw_days(rng, np.array(3000.0), np.array(ctr), np.array(0.05),
                              np.array(0.15), np.array(day.weekday()), np.array(during_lift))
            rows.append(Row(assignment.marketplace_id, day, int(drawn["impressions"]),
                            int(drawn["clicks"]), int(drawn["add_to_cart"]),
                            int(drawn["orders"]), Decimal("0.00"), "USD"))
    with tenant_scope(desk.tenant):
        services.ingest_rows(desk.store, rows)


def test_assignment_is_random_balanced_recorded_and_sticky(desk):
    experiment = experiment_for(desk, skus=41, fixed_arms=False)
    with tenant_scope(desk.tenant):
        arms = dict(experiment.assignments.values_list("product_id", "arm"))
    assert sorted(arms.values()).count("b") == 20 and len(arms) == 41
    # The recorded seed gives the same split again.
    assert experiments.split(experiment.seed, list(arms)) == arms
    with tenant_scope(desk.tenant):
        assert experiments.arm_products(experiment, "b") == sorted(
            pid for pid, arm in arms.items() if arm == "b")
        # A SKU cannot be in two running experiments.
        version_a, version_b = versions()
        with pytest.raises(ExperimentError) as busy:
            experiments.create_experiment(
                store=desk.store, name="Again", content_kind="title", version_a=None,
                version_b=version_b, product_ids=list(arms)[:5], planned_days=14,
                by=desk.owner)
    assert busy.value.code == "experiment_skus_busy"
    from django.db import IntegrityError, transaction

    with tenant_scope(desk.tenant), pytest.raises(IntegrityError), transaction.atomic():
        first = experiment.assignments.first()
        ExperimentAssignment.objects.create(experiment=experiment, product=first.product,
                                            marketplace_id=first.marketplace_id, arm="a")


def test_an_experiment_runs_at_least_14_days(desk):
    with pytest.raises(ExperimentError) as short:
        experiment_for(desk, planned_days=10)
    assert short.value.code == "experiment_too_short"


def test_result_with_cuped_power_and_no_verdict_before_the_end(desk):
    experiment = experiment_for(desk, skus=60)
    feed(desk, experiment, lift=0.3)
    with tenant_scope(desk.tenant):
        midway = experiments.analyze(experiment, today=START + timedelta(days=7))
        assert midway.verdict is None and not midway.finished and midway.days_done == 7
        result = experiments.analyze(experiment, today=START + timedelta(days=20))
    assert result.finished and result.days_done == 14
    assert result.lift_low < 0.3 < result.lift_high and result.lift > 0.1
    assert result.verdict == "b_better" and result.p_value < 0.05
    # CUPED: SKUs differ a lot in CTR, their own history explains most of it.
    assert result.cuped_theta > 0.5 and result.variance_reduction > 0.5
    assert not result.sample_ratio_mismatch and result.srm_p_value > 0.001
    assert 0.5 < result.achieved_power <= 1
    assert [arm.with_data for arm in result.arms] == [30, 30]


def test_no_difference_when_both_arms_are_alike(desk):
    experiment = experiment_for(desk, skus=60)
    feed(desk, experiment, lift=0.0, seed=8)
    with tenant_scope(desk.tenant):
        result = experiments.analyze(experiment, today=START + timedelta(days=30))
    assert result.verdict == "no_difference"
    assert result.lift_low < 0 < result.lift_high


def test_a_sample_ratio_mismatch_is_flagged(desk):
    experiment = experiment_for(desk, skus=200)
    feed(desk, experiment, lift=0.0, skip_b=50)  # 50 of arm B's SKUs never reported
    with tenant_scope(desk.tenant):
        result = experiments.analyze(experiment, today=START + timedelta(days=30))
    assert result.sample_ratio_mismatch and result.srm_p_value < 0.001
    assert [arm.with_data for arm in result.arms] == [100, 50]


def test_finished_experiments_are_marked(desk):
    experiment = experiment_for(desk)
    with tenant_scope(desk.tenant):
        assert experiments.finish_due_experiments(today=START + timedelta(days=13)) == 0
        assert experiments.finish_due_experiments(today=START + timedelta(days=14)) == 1
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.FINISHED


# -- pages and API ---------------------------------------------------------------------------

def test_the_experiment_pages_and_api(desk, tenant_b, owner_b):
    from tests.conftest import client_for, english_client

    experiment = experiment_for(desk, skus=60)
    feed(desk, experiment, lift=0.3)
    client = english_client(desk.owner, desk.tenant)
    page = client.get(f"/portal/effects/experiments/{experiment.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Lift of B over A" in html and "Arm B is better" in html  # ended long ago
    assert client.get("/portal/effects/experiments/").status_code == 200
    detail = client.get(f"/api/v1/effects/experiments/{experiment.pk}/").json()
    assert detail["result"]["verdict"] == "b_better" and detail["skus"] == 60
    assert not detail["result"]["sample_ratio_mismatch"]
    other = client_for(owner_b, tenant_b)
    assert other.get(f"/portal/effects/experiments/{experiment.pk}/").status_code == 404
    assert other.get(f"/api/v1/effects/experiments/{experiment.pk}/").status_code == 404
    assert other.get("/api/v1/effects/experiments/").json()["results"] == []


def test_experiments_are_created_through_the_api_and_the_portal(desk):
    from tests.conftest import english_client

    version_a, version_b = versions()
    with tenant_scope(desk.tenant):
        products = [make_product(desk.store) for _ in range(10)]
    client = english_client(desk.owner, desk.tenant)
    answer = client.post("/api/v1/effects/experiments/", {
        "store": desk.store.pk, "name": "API test", "content_kind": "title",
        "version_b": version_b.pk, "products": [p.pk for p in products[:6]],
        "planned_days": 21}, content_type="application/json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["skus"] == 6 and answer.json()["result"]["verdict"] is None
    too_short = client.post("/api/v1/effects/experiments/", {
        "store": desk.store.pk, "name": "Short", "content_kind": "title",
        "version_b": version_b.pk, "products": [p.pk for p in products[6:]],
        "planned_days": 7}, content_type="application/json")
    assert too_short.status_code == 400 and {"code", "message", "details"} <= set(
        too_short.json())
    page = client.post("/portal/effects/experiments/", {
        "store": desk.store.pk, "name": "Portal test", "content_kind": "title",
        "version_a": version_a.pk, "version_b": version_b.pk, "sku_count": 4,
        "planned_days": 14})
    assert page.status_code == 302
    with tenant_scope(desk.tenant):
        made = Experiment.objects.get(name="Portal test")
        assert made.assignments.count() == 4  # only the SKUs in no running experiment
