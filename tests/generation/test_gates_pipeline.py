"""The quality gates in the pipeline: the model sandbox, over real HTTP, writes each defect
(wrong language, invented facts, a refusal, placeholders) and the gates catch it."""

from __future__ import annotations

import pytest

from billing.models import UsageEvent
from generation import gates
from generation.models import GenerationItem, GenerationJob, ModelRequestLog
from generation.services import Selection, start_job
from tenants.scope import tenant_scope
from tests.generation.conftest import run_job

Status = GenerationItem.Status
pytestmark = pytest.mark.django_db


def start(store, owner, products, *, kinds=("title",), languages=("en",), targets=None):
    with tenant_scope(store.tenant):
        job = start_job(store=store, selection=Selection(product_ids=tuple(p.pk for p in
                                                                            products)),
                        kinds=list(kinds), languages=list(languages), compliance_mode=False,
                        by=owner)
    if targets:
        GenerationJob.unscoped.filter(pk=job.pk).update(target_terms=targets)
        job.refresh_from_db()
    return job


def items_of(job) -> list[GenerationItem]:
    return list(GenerationItem.unscoped.filter(job=job).order_by("id"))


def test_clean_content_passes_every_gate_with_its_coverage(store, owner_a, products, nodes,
                                                          model_sandbox):
    job = run_job(start(store, owner_a, products[:2], kinds=("title", "bullet_points"),
                        languages=("en", "fr"),
                        targets={"en": ["water bottle", "gym flask"]}))
    assert job.status == GenerationJob.Status.COMPLETED
    for item in items_of(job):
        assert item.gate_findings == [] and not item.needs_human_check
        assert item.keyword_coverage["attributes"]["total"] == 3
    english_title = next(item for item in items_of(job)
                         if item.language == "en" and item.kind == "title")
    targets = english_title.keyword_coverage["targets"]
    assert targets["total"] == 2 and targets["missing"] == ["gym flask"]


def test_wrong_language_is_a_finding_that_needs_a_person(store, owner_a, products, nodes,
                                                         model_sandbox):
    model_sandbox.state.set_behaviour("*", wrong_language=True)
    job = run_job(start(store, owner_a, products[:1], kinds=("bullet_points",),
                        languages=("fr",)))
    item = items_of(job)[0]
    assert item.status == Status.READY and item.needs_human_check
    languages = [finding for finding in item.gate_findings if finding["gate"] == gates.LANGUAGE]
    assert languages and languages[0]["found"] == "de" and languages[0]["expected"] == "fr"
    assert job.items_flagged == 1


def test_invented_facts_are_caught(store, owner_a, products, nodes, model_sandbox):
    model_sandbox.state.set_behaviour("*", invented_facts=True)
    job = run_job(start(store, owner_a, products[:1]))
    item = items_of(job)[0]
    facts = [finding for finding in item.gate_findings if finding["gate"] == gates.FACT]
    assert item.needs_human_check and facts
    assert "copper" in item.content["title"].lower()
    assert facts[0]["found"] == "copper" and "steel" in facts[0]["expected"]


@pytest.mark.parametrize("defect", ["refusal", "placeholder"])
def test_a_refusal_or_placeholder_is_regenerated_once(defect, store, owner_a, products, nodes,
                                                      model_sandbox):
    model_sandbox.state.set_behaviour("*", count=1, **{defect: True})
    job = run_job(start(store, owner_a, products[:1]))
    item = items_of(job)[0]
    assert item.status == Status.READY and item.gate_findings == []
    purposes = list(ModelRequestLog.unscoped.filter(item=item).order_by("attempt")
                    .values_list("purpose", flat=True))
    assert purposes == ["generate", "gate"]
    assert UsageEvent.unscoped.filter(store=store).count() == 1  # one call, charged once


@pytest.mark.parametrize("defect", ["refusal", "placeholder"])
def test_a_second_refusal_fails_the_item_uncharged(defect, store, owner_a, products, nodes,
                                                   model_sandbox):
    model_sandbox.state.set_behaviour("*", **{defect: True})
    job = run_job(start(store, owner_a, products[:1]))
    item = items_of(job)[0]
    assert item.status == Status.FAILED and item.error_code == "ERR_CONTENT_REFUSAL"
    assert item.gate_findings[0]["gate"] == defect
    assert item.model_attempts == 2
    assert UsageEvent.unscoped.filter(store=store).count() == 0


def test_the_job_page_and_review_show_the_finding_and_remedy_in_chinese(
        store, owner_a, tenant_a, products, nodes, model_sandbox):
    from django.urls import reverse

    from review.models import Review
    from tests.conftest import client_for, english_client

    model_sandbox.state.set_behaviour("*", invented_facts=True)
    job = run_job(start(store, owner_a, products[:1]))
    item = items_of(job)[0]
    client = client_for(owner_a, tenant_a)  # the default language: Simplified Chinese
    page = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "“copper”与商品资料" in page and "请按商品资料改正" in page
    assert "核心属性词" in page
    review = Review.unscoped.get(item=item)
    page = client.get(reverse("review_item", args=[review.pk])).content.decode()
    assert 'data-gate="fact"' in page and "须由人工改正文字或确认原样保留" in page
    assert "核心属性词" in page
    # Not the compliance filter's message: this text was not regenerated in compliance mode.
    english = english_client(owner_a, tenant_a).get(
        reverse("review_item", args=[review.pk])).content.decode()
    assert "contradicts the product data" in english
    assert "regenerated in compliance mode" not in english


def test_target_terms_come_from_the_api_and_the_job_form(tenant_a, owner_a, store, products,
                                                         nodes, model_sandbox):
    from django.urls import reverse

    from tests.conftest import english_client
    from tests.generation.test_api import api_client, payload, post

    api = api_client(tenant_a, owner_a)
    body = post(api, "/api/v1/jobs/", payload(store, q=products[0].sku, target_terms={
        "en": ["water bottle", " water bottle ", "gym flask"], "ru": ["not a job language"]}))
    assert body.status_code == 201, body.content
    assert body.json()["target_terms"] == {"en": ["water bottle", "gym flask"]}
    job = run_job(GenerationJob.unscoped.get(pk=body.json()["id"]))
    title = next(item for item in items_of(job) if item.kind == "title")
    assert title.keyword_coverage["targets"]["total"] == 2

    client = english_client(owner_a, tenant_a)
    form = {"store": store.pk, "kinds": ["title"], "languages": ["en"], "action": "start",
            "product_ids": [products[1].pk], "target_terms": "nonsense without a colon"}
    page = client.post(reverse("job_new"), form)
    assert page.status_code in (200, 400)
    assert "Start each line with a language code" in page.content.decode()
    form["target_terms"] = "en: gym flask, hiking\nEN: gym flask"
    assert client.post(reverse("job_new"), form).status_code == 302
    newest = GenerationJob.unscoped.filter(store=store).order_by("-id").first()
    assert newest.target_terms == {"en": ["gym flask", "hiking"]}


def test_the_items_api_explains_the_findings_in_the_users_language(tenant_a, owner_a, store,
                                                                   products, nodes,
                                                                   model_sandbox):
    from tests.generation.test_api import api_client

    model_sandbox.state.set_behaviour("*", invented_facts=True)
    job = run_job(start(store, owner_a, products[:1]))
    api = api_client(tenant_a, owner_a)
    body = api.get(f"/api/v1/jobs/{job.pk}/items/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    item = body["results"][0] if "results" in body else body[0]
    finding = item["gate_findings"][0]
    assert finding["gate"] == "fact" and finding["found"] == "copper"
    assert "与商品资料" in finding["meaning"] and finding["remedy"]
    assert item["keyword_coverage"]["attributes"]["total"] == 3
    # The review API, where reviewers' tools read an item, carries the same findings.
    reviews = api.get("/api/v1/reviews/", {"job": job.pk},
                      HTTP_ACCEPT_LANGUAGE="en").json()
    review = reviews["results"][0] if "results" in reviews else reviews[0]
    assert review["gate_findings"][0]["found"] == "copper"
    assert "product data" in review["gate_findings"][0]["meaning"]
    assert review["keyword_coverage"] == item["keyword_coverage"]
