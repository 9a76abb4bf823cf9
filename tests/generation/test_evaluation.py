"""Evaluating instruction versions: sets, runs through the model nodes (over real HTTP to the
model sandbox) outside any tenant's usage, the judge, the comparison with the published version
and the second person it takes to publish a worse one."""

from __future__ import annotations

import json

import pytest

from billing.models import Reservation, UsageEvent
from generation import evaluation, instructions
from generation.content import ContentKind
from generation.models import EvaluationRun, InstructionVersion, ModelRequestLog
from marketplaces.sites import Marketplace
from tenants.roles import StaffRole
from tests.conftest import create_staff
from tests.generation.conftest import make_product

pytestmark = pytest.mark.django_db

CASES = [
    {"sku": "FIT-916", "product": {"title": "Copper Pipe Fitting Elbow 90 Degree 9/16 inch",
                                   "category": "Tools > Plumbing",
                                   "attributes": {"material": "copper", "size": "9/16 inch"}},
     "references": {"en": "Copper Pipe Fitting Elbow 90 Degree 9/16 inch for Plumbing"}},
    {"sku": "MUG-350", "product": {"title": "Ceramic Coffee Mug 350 ml Matte White",
                                   "category": "Kitchen > Mugs",
                                   "attributes": {"material": "ceramic", "capacity": "350 ml"}}},
]


@pytest.fixture
def published(db) -> InstructionVersion:
    instructions.ensure_default_library()
    return instructions.published_version(ContentKind.TITLE, Marketplace.TEMU)


@pytest.fixture
def eval_set(platform_admin):
    return evaluation.create_set(name="Plumbing and mugs", cases=evaluation.parse_cases(
        json.dumps(CASES)), by=platform_admin)


def draft_of(version, by) -> InstructionVersion:
    return instructions.create_draft(version.instruction_set, text=version.text + "\nBe brief.",
                                     strict_text="", change_note="brief", by=by)


def test_a_run_goes_through_the_nodes_and_counts_as_no_tenants_usage(
        published, eval_set, nodes, model_sandbox, platform_admin):
    run = evaluation.run(published, eval_set, languages=["en", "fr"], by=platform_admin)
    assert run.status == EvaluationRun.Status.COMPLETED
    assert run.writer_node == nodes["primary"].name and run.judge_node == nodes["backup"].name
    assert len(run.results) == 4
    assert run.summary["gate_pass_rate"] == {gate: 1.0 for gate in evaluation.GATES}
    assert run.summary["judge_score"] >= 4 and run.summary["errors"] == 0
    assert run.summary["mean_latency_ms"] >= 0 and run.summary["cost_per_item"] != "0.000000"
    first = run.results[0]
    assert first["judge"]["votes"] and len(first["judge"]["votes"]) == 3
    assert first["judge"]["order_randomised"] and "reference_score" in first["judge"]
    # Writer and judge are different nodes: 4 texts on the primary, 3 rounds each on backup.
    assert len(model_sandbox.state.requests_for("deepseek-chat")) == 4
    assert len(model_sandbox.state.requests_for("backup-chat")) == 12
    assert not ModelRequestLog.unscoped.exists()
    assert not UsageEvent.unscoped.exists() and not Reservation.unscoped.exists()


def test_the_gates_catch_a_drafts_defects_and_publishing_it_takes_a_second_person(
        published, eval_set, nodes, model_sandbox, platform_admin):
    evaluation.run(published, eval_set, languages=["en"], by=platform_admin)
    draft = draft_of(published, platform_admin)
    model_sandbox.state.set_behaviour("deepseek-chat", invented_facts=True)
    run = evaluation.run(draft, eval_set, languages=["en"], by=platform_admin)
    assert run.summary["gate_pass_rate"]["fact"] == 0.0
    comparison = evaluation.compare_with_published(draft)
    assert comparison.current is not None and comparison.worse == ["fact"]

    with pytest.raises(evaluation.NeedsSecondApproval):
        instructions.publish(draft, by=platform_admin)
    with pytest.raises(evaluation.NeedsSecondApproval):  # the same person again
        instructions.publish(draft, by=platform_admin)
    draft.refresh_from_db()
    assert draft.status == InstructionVersion.Status.DRAFT
    assert draft.publish_requested_by == platform_admin
    second = create_staff(StaffRole.PLATFORM_ADMIN)
    instructions.publish(draft, by=second)
    draft.refresh_from_db()
    assert draft.status == InstructionVersion.Status.PUBLISHED and draft.published_by == second


def test_a_draft_no_worse_publishes_at_once(published, eval_set, nodes, model_sandbox,
                                            platform_admin):
    evaluation.run(published, eval_set, languages=["en"], by=platform_admin)
    draft = draft_of(published, platform_admin)
    evaluation.run(draft, eval_set, languages=["en"], by=platform_admin)
    instructions.publish(draft, by=platform_admin)
    assert InstructionVersion.objects.get(pk=draft.pk).status == "published"


def test_the_judge_scores_a_refusal_low(published, eval_set, nodes, model_sandbox,
                                        platform_admin):
    model_sandbox.state.set_behaviour("deepseek-chat", refusal=True)
    run = evaluation.run(published, eval_set, languages=["en"], by=platform_admin)
    assert run.summary["gate_pass_rate"]["refusal"] == 0.0
    assert all(row["judge"]["score"] == 1 for row in run.results)


def test_one_node_runs_without_a_judge(published, eval_set, nodes, model_sandbox,
                                       platform_admin):
    nodes["backup"].enabled = False
    nodes["backup"].save()
    run = evaluation.run(published, eval_set, languages=["en"], by=platform_admin)
    assert run.judge_node == "" and run.summary["judge_score"] is None


def test_cases_from_a_store_and_bad_json(store):
    case = evaluation.case_from_product(make_product(store), {"en": "Reference"})
    assert case["product"]["attributes"]["material"] == "stainless steel"
    for raw in ("not json", "[]", '[{"product": {}}]', '[{"product": {"title": "x"}, '
                                                        '"references": [1]}]'):
        with pytest.raises(evaluation.EvaluationError):
            evaluation.parse_cases(raw)


def test_outcomes_after_publishing_count_the_gate_findings(store, owner_a, products, nodes,
                                                           model_sandbox):
    from tests.generation.test_gates_pipeline import items_of, run_job, start

    model_sandbox.state.set_behaviour("*", invented_facts=True)
    job = run_job(start(store, owner_a, products[:2]))
    version = items_of(job)[0].instruction_version
    outcomes = evaluation.version_outcomes(version)
    assert outcomes["items"] == 2 and outcomes["findings"]["fact"] >= 2
    assert outcomes["decided"] == 0 and outcomes["approval_rate"] is None


# The console pages -----------------------------------------------------------------------------

def english_staff(user):
    from django.conf import settings

    from tests.conftest import client_for

    client = client_for(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def test_console_makes_a_set_runs_a_draft_and_shows_it_beside_the_published(
        published, nodes, model_sandbox, platform_admin, store):
    from django.urls import reverse

    client = english_staff(platform_admin)
    assert client.get(reverse("console_evaluation_sets")).status_code == 200
    bad = client.post(reverse("console_evaluation_set_add"), {"name": "x", "cases_json": "[]"})
    assert bad.status_code == 400 and "The cases are not usable" in bad.content.decode()
    product = make_product(store)
    made = client.post(reverse("console_evaluation_set_add"), {
        "name": "From a store", "store": store.pk, "products": product.sku})
    chosen = evaluation.EvaluationSet.objects.get(name="From a store")
    assert made.status_code == 302 and chosen.cases[0]["sku"] == product.sku
    page = client.post(reverse("console_evaluation_set", args=[chosen.pk]),
                       {"version": published.pk, "languages": ["en"]})
    assert page.status_code == 302
    draft = draft_of(published, platform_admin)
    model_sandbox.state.set_behaviour("deepseek-chat", invented_facts=True)
    page = client.post(reverse("console_evaluation_set", args=[chosen.pk]),
                       {"version": draft.pk, "languages": ["en"]})
    run = EvaluationRun.objects.get(version=draft)
    body = client.get(page["Location"]).content.decode()
    assert 'data-worse="fact"' in body and 'data-gate="fact"' in body
    assert "needs a second person" in body
    version_page = client.get(reverse("console_instruction_version", args=[draft.pk]))
    assert 'data-worse="fact"' in version_page.content.decode()
    publish = client.post(reverse("console_instruction_publish", args=[draft.pk]), follow=True)
    assert "Another person must publish it" in publish.content.decode()
    assert InstructionVersion.objects.get(pk=draft.pk).status == "draft"
    assert run.status == EvaluationRun.Status.COMPLETED


def test_console_runs_are_limited_and_support_staff_may_only_look(
        published, nodes, model_sandbox, platform_admin):
    from django.urls import reverse

    big = evaluation.create_set(name="Twenty", cases=CASES * 10, by=platform_admin)
    client = english_staff(platform_admin)
    too_many = client.post(reverse("console_evaluation_set", args=[big.pk]), {
        "version": published.pk, "languages": ["en", "fr", "de", "es", "it", "ru", "pt"]})
    assert too_many.status_code == 400 and "At most 100 items a run" in \
        too_many.content.decode()
    support = english_staff(create_staff(StaffRole.SUPPORT))
    assert support.get(reverse("console_evaluation_set", args=[big.pk])).status_code == 200
    refused = support.post(reverse("console_evaluation_set", args=[big.pk]),
                           {"version": published.pk, "languages": ["en"]})
    assert refused.status_code == 403 and not EvaluationRun.objects.exists()


def test_image_descriptions_are_refused_with_a_message(published, eval_set, nodes,
                                                       model_sandbox, platform_admin):
    from django.urls import reverse

    vision = InstructionVersion.objects.filter(
        instruction_set__kind=ContentKind.IMAGE_DESCRIPTION).first()
    page = english_staff(platform_admin).post(
        reverse("console_evaluation_set", args=[eval_set.pk]),
        {"version": vision.pk, "languages": ["en"]})
    assert page.status_code == 400 and "not evaluated from a set yet" in page.content.decode()
    assert not EvaluationRun.objects.exists()


def test_outcomes_read_reviewers_approvals_and_edits(store, owner_a, products, nodes,
                                                     model_sandbox):
    from review import services as review
    from review.models import Review
    from tests.generation.test_gates_pipeline import items_of, run_job, start

    job = run_job(start(store, owner_a, products[:3]))
    reviews = [Review.unscoped.get(item=item) for item in items_of(job)]
    review.approve(reviews[0], by=owner_a)
    words = reviews[1].ai_content["title"].split()
    review.edit_and_approve(reviews[1], content={"title": " ".join(words[:-2] + ["Gift"])},
                            by=owner_a)
    review.reject(reviews[2], reason="Not for this market", by=owner_a)
    outcomes = evaluation.version_outcomes(items_of(job)[0].instruction_version)
    assert outcomes["decided"] == 3 and outcomes["approval_rate"] == round(2 / 3, 4)
    assert outcomes["edited"] == 1 and 0 < outcomes["edit_distance"] < 0.5
