"""Diagnose a job: faults grouped by error code, explained in plain words with the fix, from
jobs run against the model sandbox."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from billing import services as billing
from catalog.models import QualityFlag
from generation.diagnose import diagnose_job
from generation.models import GenerationItem, ModelRequestLog
from generation.services import Selection, start_job
from tenants.roles import StaffRole
from tenants.scope import tenant_scope
from tests.conftest import client_for, create_staff
from tests.generation.conftest import make_product, make_store, run_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_english():
    """The verdicts are checked word for word in English (Chinese is the default)."""
    with translation.override("en"):
        yield


def start(store, owner, products, *, kinds=("title",), compliance=False):
    with tenant_scope(store.tenant):
        return start_job(store=store, selection=Selection(product_ids=tuple(p.pk for p in
                                                                             products)),
                         kinds=list(kinds), languages=["en"], compliance_mode=compliance,
                         by=owner)


def page_for(job) -> str:
    client = client_for(create_staff(StaffRole.SUPPORT))
    client.cookies["django_language"] = "en"
    response = client.get(reverse("console_job_diagnose", args=[job.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_clean_job_has_nothing_to_diagnose(store, owner_a, nodes, model_sandbox):
    job = run_job(start(store, owner_a, [make_product(store)]))
    diagnosis = diagnose_job(job)
    assert diagnosis.healthy and diagnosis.verdict == "Nothing failed in this job."
    assert diagnosis.first_error_at is None


def test_timeouts_that_fell_back_to_the_backup(store, owner_a, nodes, model_sandbox):
    model_sandbox.state.set_behaviour("deepseek-chat", count=1, hang=True)
    job = run_job(start(store, owner_a, [make_product(store), make_product(store)]))
    assert job.status == "completed"

    diagnosis = diagnose_job(job)
    [group] = diagnosis.groups
    assert group.code == "ERR_MODEL_TIMEOUT"
    assert (group.items_failed, group.requests_failed, group.recovered_items) == (0, 1, 1)
    assert [(n.node_name, n.failures) for n in group.nodes] == [("DeepSeek primary", 1)]
    assert "DeepSeek primary failed 1 time." in group.explanation
    assert "The backup took over: 1 item still succeeded (written by Self-hosted backup)." \
        in group.explanation
    assert diagnosis.verdict.startswith("No item failed: 1 request failed with "
                                        "ERR_MODEL_TIMEOUT")
    assert group.actions[0].url == reverse("console_node_edit", args=[nodes["primary"].pk])
    failed_log = ModelRequestLog.unscoped.get(job=job, error_code="ERR_MODEL_TIMEOUT")
    assert diagnosis.first_error_at == failed_log.started_at

    page = page_for(job)
    assert "The backup took over" in page and "First error at" in page
    assert reverse("console_node_edit", args=[nodes["primary"].pk]) in page


def test_every_node_down_says_switch_node(store, owner_a, nodes, model_sandbox):
    model_sandbox.state.set_behaviour("*", status=503)
    job = run_job(start(store, owner_a, [make_product(store)]))
    diagnosis = diagnose_job(job)
    group = diagnosis.groups[0]
    assert group.code == "ERR_MODEL_UNAVAILABLE" and group.items_failed == 1
    assert {n.node_name for n in group.nodes} == {"DeepSeek primary", "Self-hosted backup"}
    assert "1 item failed on every node." in group.explanation
    assert diagnosis.verdict.startswith("1 item failed because the model service could not "
                                        "be reached")


def test_banned_words_name_the_words_hit_most(store, owner_a, nodes, model_sandbox):
    model_sandbox.state.set_behaviour("*", banned_words=True)
    job = run_job(start(store, owner_a, [make_product(store) for _ in range(3)]))
    assert job.items_failed == 3

    diagnosis = diagnose_job(job)
    group = diagnosis.groups[0]
    assert group.code == "ERR_CONTENT_REJECTED" and group.items_failed == 3
    assert diagnosis.verdict.startswith("3 items failed because the generated content hit "
                                        "the banned-word list (ERR_CONTENT_REJECTED) — Enable "
                                        "compliance mode")
    hits = {}
    for item in GenerationItem.unscoped.filter(job=job):
        for hit in item.compliance_hits:
            hits[hit["term"]] = hits.get(hit["term"], 0) + 1
    assert [(t.term, t.hits) for t in group.terms] == sorted(
        hits.items(), key=lambda pair: -pair[1])[:10]
    assert group.terms[0].hits == max(hits.values())
    assert "Compliance mode was off for this job." in group.details
    listed = [t for t in group.terms if t.banned_word_id]
    assert listed and any(a.url.startswith(reverse("console_banned_words") + "?q=")
                          for a in group.actions)
    assert f'"{group.terms[0].term}"' in group.explanation
    assert group.terms[0].term in page_for(job)


def test_low_resolution_images_list_the_skus(store, owner_a, nodes, model_sandbox):
    low = make_product(store, flags=[QualityFlag.LOW_RESOLUTION_IMAGE])
    good = make_product(store)
    job = run_job(start(store, owner_a, [low, good], kinds=("image_description",)))

    diagnosis = diagnose_job(job)
    group = diagnosis.groups[0]
    assert group.code == "ERR_VS_402" and group.items_failed == 1 and group.skus_total == 1
    assert [s.sku for s in group.skus] == [low.sku]
    assert diagnosis.verdict == ("1 item failed because the source image resolution is too "
                                 "low (ERR_VS_402) — Use a main image at least 1200 px wide.")
    assert "1 SKU has input the model cannot work from." in group.explanation
    page = page_for(job)
    assert low.sku in page and good.sku not in page


def test_quota_errors_give_the_cap_and_reset_time(tenant_a, owner_a, small_pack, nodes,
                                                  model_sandbox):
    store = make_store(tenant_a, owner_a)
    billing.subscribe_store(store, small_pack, by=None)
    billing.set_daily_overage_cap(store, 0, by=owner_a)
    job = run_job(start(store, owner_a, [make_product(store) for _ in range(3)]))
    assert job.items_failed == 1

    group = diagnose_job(job).groups[0]
    assert group.code == "ERR_QUOTA_EXCEEDED"
    assert "2 included calls and a cap of 0 overage calls a day" in group.explanation
    assert "The quota resets at" in group.explanation


def test_store_authorization_and_whitelist_faults_point_at_the_seller(store, owner_a, nodes,
                                                                      model_sandbox, settings):
    settings.ISV_EGRESS_IPS = ["198.51.100.7"]
    job = run_job(start(store, owner_a, [make_product(store), make_product(store)]))
    first, second = GenerationItem.unscoped.filter(job=job).order_by("id")
    GenerationItem.unscoped.filter(pk=first.pk).update(status="failed",
                                                       error_code="ERR_TOKEN_EXPIRED")
    GenerationItem.unscoped.filter(pk=second.pk).update(status="failed",
                                                        error_code="ERR_IP_NOT_WHITELISTED")
    groups = {g.code: g for g in diagnose_job(job).groups}
    expired = groups["ERR_TOKEN_EXPIRED"]
    assert "re-authorize the store" in expired.explanation
    assert expired.actions[0].url == reverse("console_tenant", args=[store.tenant.slug])
    assert reverse("store_reauthorize", args=[store.pk]) in expired.details[0]
    assert "198.51.100.7" in groups["ERR_IP_NOT_WHITELISTED"].explanation


def test_seller_cannot_open_the_diagnosis(store, owner_a, tenant_a, nodes, model_sandbox):
    job = run_job(start(store, owner_a, [make_product(store)]))
    response = client_for(owner_a, tenant_a).get(reverse("console_job_diagnose",
                                                         args=[job.pk]))
    assert response.status_code == 403


def test_no_enabled_node_points_at_the_node_page(store, owner_a, nodes, model_sandbox):
    from generation.models import ModelNode

    ModelNode.objects.update(enabled=False)
    job = run_job(start(store, owner_a, [make_product(store)]))
    group = diagnose_job(job).groups[0]
    assert group.code == "ERR_NO_MODEL_NODE" and group.items_failed == 1
    assert group.explanation.startswith("ISV staff enable a node")
    assert group.actions[0].url == reverse("console_nodes")


def test_banned_word_links_carry_the_whole_term(store, owner_a, nodes, model_sandbox):
    from urllib.parse import parse_qs, urlsplit

    from generation.models import BannedWord

    model_sandbox.state.set_behaviour("*", banned_words=True)
    job = run_job(start(store, owner_a, [make_product(store)]))
    term = "#1 best & cheapest"  # "#" and "&" would cut the search link short
    BannedWord.objects.create(term=term)
    GenerationItem.unscoped.filter(job=job).update(compliance_hits=[{"term": term}])
    group = diagnose_job(job).groups[0]
    [link] = [action.url for action in group.actions
              if str(action.label) == f'Banned word "{term}"']
    assert parse_qs(urlsplit(link).query) == {"q": [term]}
