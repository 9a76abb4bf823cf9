"""The ISV console's generation pages: model nodes, instruction sets, banned words, the
model-request log, the job list and the cost page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from generation import instructions
from generation import nodes as node_module
from generation.models import (
    BannedWord,
    InstructionSet,
    InstructionVersion,
    ModelNode,
    ModelRequestLog,
)
from generation.services import Selection, start_job
from tenants.roles import StaffRole
from tenants.scope import tenant_scope
from tests.conftest import client_for, create_staff
from tests.generation.conftest import make_product, make_store, run_job

pytestmark = pytest.mark.django_db


def english(client: Client) -> Client:
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def admin_client(platform_admin) -> Client:
    return english(client_for(platform_admin))


@pytest.fixture
def support_client(db) -> Client:
    return english(client_for(create_staff(StaffRole.SUPPORT)))


def start(store, owner, products, **options):
    with tenant_scope(store.tenant):
        return start_job(store=store, selection=Selection(product_ids=tuple(p.pk for p in
                                                                             products)),
                         kinds=list(options.get("kinds", ["title"])),
                         languages=list(options.get("languages", ["en"])),
                         compliance_mode=options.get("compliance", False), by=owner)


# Permissions -------------------------------------------------------------------------------

VIEW_PAGES = ["console_nodes", "console_instructions", "console_banned_words",
              "console_request_log", "console_jobs", "console_model_cost"]


@pytest.mark.parametrize("url_name", VIEW_PAGES)
def test_seller_cannot_reach_console_pages(tenant_a, owner_a, url_name):
    response = client_for(owner_a, tenant_a).get(reverse(url_name))
    assert response.status_code == 403


@pytest.mark.parametrize("url_name", VIEW_PAGES)
def test_support_views_every_page(support_client, url_name):
    assert support_client.get(reverse(url_name)).status_code == 200


def test_finance_staff_do_not_see_generation_pages(db):
    client = client_for(create_staff(StaffRole.FINANCE))
    assert client.get(reverse("console_request_log")).status_code == 403


def test_support_cannot_edit_nodes_words_or_instructions(support_client, nodes):
    instructions.ensure_default_library()
    node = nodes["primary"]
    assert support_client.get(reverse("console_node_add")).status_code == 403
    assert support_client.get(reverse("console_node_edit", args=[node.pk])).status_code == 403
    assert support_client.post(reverse("console_node_toggle", args=[node.pk])).status_code == 403
    assert support_client.post(reverse("console_node_reset", args=[node.pk])).status_code == 403
    assert support_client.post(reverse("console_node_test", args=[node.pk])).status_code == 403
    assert support_client.post(reverse("console_banned_word_add"),
                               {"term": "cheap"}).status_code == 403
    version = InstructionVersion.objects.first()
    assert support_client.post(reverse("console_instruction_publish",
                                       args=[version.pk])).status_code == 403
    node.refresh_from_db()
    assert node.enabled
    page = support_client.get(reverse("console_nodes")).content.decode()
    assert "DeepSeek primary" in page and "Put back in rotation" not in page


def test_staff_nav_lists_the_generation_pages(admin_client):
    page = admin_client.get(reverse("console_nodes")).content.decode()
    for url_name in VIEW_PAGES:
        assert reverse(url_name) in page


# Model nodes -------------------------------------------------------------------------------

NODE_FORM = {
    "name": "vLLM Hangzhou", "base_url": "http://10.0.0.5:8000/v1", "model_name": "deepseek-r1",
    "api_key": "sk-secret-123456", "supports_text": "on", "role": "backup", "priority": "20",
    "max_concurrency": "16", "request_deadline_seconds": "30", "price_cache_hit": "0.1",
    "price_cache_miss": "0.4", "price_output": "1.6", "enabled": "on",
}


def test_node_crud_keeps_the_api_key_write_only(admin_client):
    response = admin_client.post(reverse("console_node_add"), NODE_FORM)
    assert response.status_code == 302
    node = ModelNode.objects.get(name="vLLM Hangzhou")
    assert node.api_key == "sk-secret-123456" and node.role == "backup"

    page = admin_client.get(reverse("console_node_edit", args=[node.pk])).content.decode()
    assert "sk-secret-123456" not in page and "A key is stored (not shown)." in page

    # Blank keeps the key; the other fields change.
    admin_client.post(reverse("console_node_edit", args=[node.pk]),
                      {**NODE_FORM, "api_key": "", "max_concurrency": "4"})
    node.refresh_from_db()
    assert node.api_key == "sk-secret-123456" and node.max_concurrency == 4
    # A new key replaces it.
    admin_client.post(reverse("console_node_edit", args=[node.pk]),
                      {**NODE_FORM, "api_key": "sk-new"})
    node.refresh_from_db()
    assert node.api_key == "sk-new"
    assert "sk-new" not in admin_client.get(reverse("console_nodes")).content.decode()

    admin_client.post(reverse("console_node_toggle", args=[node.pk]))
    node.refresh_from_db()
    assert not node.enabled


def test_node_without_capability_is_refused(admin_client):
    form = {key: value for key, value in NODE_FORM.items() if key != "supports_text"}
    response = admin_client.post(reverse("console_node_add"), form)
    assert response.status_code == 200
    assert "A node must do text, vision or both." in response.content.decode()
    assert not ModelNode.objects.exists()


def test_node_list_shows_state_and_last_hour(admin_client, store, nodes, fast_breaker):
    primary = nodes["primary"]
    now = timezone.now()
    for latency, code in ((100, ""), (300, "ERR_MODEL_TIMEOUT")):
        ModelRequestLog.unscoped.create(tenant=store.tenant, store=store, node=primary,
                                        node_name=primary.name, attempt=1, started_at=now,
                                        latency_ms=latency, error_code=code)
    node_module.record_failure(primary)
    node_module.record_failure(primary)
    page = admin_client.get(reverse("console_nodes")).content.decode()
    assert "Out of rotation" in page and "In rotation" in page
    assert "200 ms" in page and "50%" in page
    assert "0 / 8" in page

    admin_client.post(reverse("console_node_reset", args=[primary.pk]))
    assert node_module.breaker_state(primary) == node_module.CLOSED


def test_node_test_shows_the_answer_without_logging_usage(admin_client, nodes, model_sandbox):
    response = admin_client.post(reverse("console_node_test", args=[nodes["primary"].pk]))
    page = response.content.decode()
    assert response.status_code == 200 and "The node answered." in page and " ms" in page
    assert model_sandbox.state.requests_for("deepseek-chat")
    assert not ModelRequestLog.unscoped.exists()


def test_node_test_shows_the_error_code_with_meaning_and_remedy(admin_client, nodes,
                                                                 model_sandbox):
    model_sandbox.state.set_behaviour("deepseek-chat", count=1, status=402)
    page = admin_client.post(reverse("console_node_test",
                                     args=[nodes["primary"].pk])).content.decode()
    assert "The node failed the test." in page and "ERR_MODEL_PAYMENT_REQUIRED" in page
    assert "top up the provider account" in page
    assert node_module.breaker_state(nodes["primary"]) == node_module.CLOSED


# Instruction sets --------------------------------------------------------------------------

def title_set(marketplace="temu") -> InstructionSet:
    return InstructionSet.objects.get(kind="title", marketplace=marketplace, category="")


def test_instruction_list_loads_the_shipped_library(admin_client):
    page = admin_client.get(reverse("console_instructions") + "?marketplace=temu").content
    assert title_set().versions.get().status == "published"
    assert b"Temu: Title" in page and b"v1" in page


def test_draft_test_publish_flow(admin_client, platform_admin, store, nodes, model_sandbox):
    admin_client.get(reverse("console_instructions"))
    selected = title_set()
    page = admin_client.get(reverse("console_instruction_set", args=[selected.pk])).content
    assert selected.versions.get().text[:40].encode() in page  # draft starts from published

    response = admin_client.post(reverse("console_instruction_draft", args=[selected.pk]), {
        "text": selected.versions.get().text + "\nLead with the material.",
        "strict_text": "Be strict.", "change_note": "Lead with the material"})
    draft = selected.versions.get(number=2)
    assert response.status_code == 302 and draft.status == "draft"
    assert draft.created_by == platform_admin

    product = make_product(store)
    response = admin_client.post(reverse("console_instruction_test", args=[draft.pk]), {
        "store": store.pk, "products": f"{product.pk}", "language": "en"})
    page = response.content.decode()
    assert response.status_code == 200, page
    assert product.sku in page and "No compliance findings." in page
    assert "prompt" in page and "cache hit" in page
    sent = model_sandbox.state.requests_for("deepseek-chat")[-1]["messages"]
    assert "Lead with the material." in sent[0]["content"]
    assert not ModelRequestLog.unscoped.exists()

    admin_client.post(reverse("console_instruction_publish", args=[draft.pk]))
    draft.refresh_from_db()
    assert draft.status == "published" and draft.published_by == platform_admin
    assert selected.versions.get(number=1).status == "retired"
    page = admin_client.get(reverse("console_instruction_set", args=[selected.pk])).content
    assert b"Lead with the material" in page

    admin_client.post(reverse("console_instruction_retire", args=[draft.pk]))
    draft.refresh_from_db()
    assert draft.status == "retired"


def test_sample_test_with_product_json_shows_findings(admin_client, nodes, model_sandbox):
    admin_client.get(reverse("console_instructions"))
    BannedWord.objects.get_or_create(marketplace="", language="", term="best")
    model_sandbox.state.set_behaviour("*", banned_words_always=True)
    version = title_set().versions.get()
    response = admin_client.post(reverse("console_instruction_test", args=[version.pk]), {
        "product_json": '{"title": "Ceramic mug 350 ml white", "category": "Kitchen"}',
        "language": "en"})
    page = response.content.decode()
    assert response.status_code == 200 and "Compliance findings" in page
    assert "banned-word list" in page


def test_sample_test_needs_products(admin_client):
    admin_client.get(reverse("console_instructions"))
    version = title_set().versions.get()
    response = admin_client.post(reverse("console_instruction_test", args=[version.pk]),
                                 {"language": "en"})
    assert response.status_code == 400
    assert "Choose a store and 1 to 5 of its products" in response.content.decode()


def test_category_specific_set_starts_with_a_draft(admin_client):
    admin_client.get(reverse("console_instructions"))
    response = admin_client.post(reverse("console_instruction_set_add"), {
        "marketplace": "temu", "kind": "title", "category": "Kitchen > Drinkware",
        "name": "Temu: Title (drinkware)"})
    created = InstructionSet.objects.get(category="Kitchen > Drinkware")
    assert response.status_code == 302
    draft = created.versions.get()
    assert draft.status == "draft" and draft.text == title_set().versions.get().text


# Banned words ------------------------------------------------------------------------------

def test_banned_words_add_bulk_delete_and_check(admin_client, platform_admin):
    admin_client.post(reverse("console_banned_word_add"), {
        "marketplace": "temu", "language": "en", "term": "miracle", "reason": "Health claim"})
    word = BannedWord.objects.get(term="miracle")
    assert word.created_by == platform_admin

    admin_client.post(reverse("console_banned_word_bulk"), {
        "bulk-marketplace": "temu", "bulk-language": "en", "bulk-terms": "cure\n\nwonder\ncure"})
    assert set(BannedWord.objects.filter(term__in=["cure", "wonder"])
               .values_list("term", flat=True)) == {"cure", "wonder"}

    page = admin_client.get(reverse("console_banned_words") + "?q=mirac").content.decode()
    assert "miracle" in page and "wonder" not in page

    response = admin_client.post(reverse("console_banned_words"), {
        "check-marketplace": "temu", "check-language": "en",
        "check-text": "A Miracle mug that cures everything."})
    page = response.content.decode()
    assert "The filter finds 2 banned terms" in page
    assert "“Miracle”" in page and "listed as “cure”" in page

    admin_client.post(reverse("console_banned_word_delete", args=[word.pk]))
    assert not BannedWord.objects.filter(pk=word.pk).exists()
    admin_client.get(reverse("console_banned_words"))  # a deleted word does not come back
    assert not BannedWord.objects.filter(pk=word.pk).exists()


def test_check_text_without_a_hit(admin_client):
    page = admin_client.post(reverse("console_banned_words"), {
        "check-marketplace": "temu", "check-language": "en",
        "check-text": "A plain ceramic mug."}).content.decode()
    assert "The filter finds no banned term in this text." in page


# The model-request log ---------------------------------------------------------------------

def make_log(store, node, *, minutes_ago=0, code="", cost="0.001", prompt=1000, hit=0,
             completion=100, job=None) -> ModelRequestLog:
    return ModelRequestLog.unscoped.create(
        tenant_id=store.tenant_id, store=store, job=job, node=node, node_name=node.name,
        attempt=1, started_at=timezone.now() - timedelta(minutes=minutes_ago), latency_ms=50,
        prompt_tokens=prompt, cache_hit_tokens=hit, completion_tokens=completion,
        cost=Decimal(cost), error_code=code,
        provider_request_id=f"req-{code or 'ok'}-{minutes_ago}")


def test_log_filters(support_client, store, tenant_b, owner_b, pack, nodes):
    other = make_store(tenant_b, owner_b)
    primary, backup = nodes["primary"], nodes["backup"]
    make_log(store, primary, minutes_ago=5, code="ERR_MODEL_TIMEOUT")
    make_log(store, backup, minutes_ago=4)
    make_log(other, primary, minutes_ago=300)
    url = reverse("console_request_log")

    page = support_client.get(url).content.decode()
    assert page.index("req-ok-4") < page.index("req-ERR_MODEL_TIMEOUT-5") < page.index(
        "req-ok-300")  # newest first
    assert "The model service timed out." in page  # meaning beside the code

    def ids(query: str) -> set[str]:
        text = support_client.get(url + query).content.decode()
        return {rid for rid in ("req-ok-4", "req-ERR_MODEL_TIMEOUT-5", "req-ok-300")
                if rid in text}

    assert ids(f"?tenant={store.tenant_id}") == {"req-ok-4", "req-ERR_MODEL_TIMEOUT-5"}
    assert ids(f"?store={other.pk}") == {"req-ok-300"}
    assert ids(f"?node={backup.pk}") == {"req-ok-4"}
    assert ids("?error_code=ERR_MODEL_TIMEOUT") == {"req-ERR_MODEL_TIMEOUT-5"}
    assert ids("?error_code=any") == {"req-ERR_MODEL_TIMEOUT-5"}
    since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert ids(f"?start={since}&zone=utc") == {"req-ok-4", "req-ERR_MODEL_TIMEOUT-5"}
    # The same wall time read in the tenant's zone (Asia/Shanghai, UTC+8) is 8 hours earlier.
    local_since = (timezone.now() + timedelta(hours=8) - timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M")
    assert ids(f"?tenant={store.tenant_id}&zone=tenant&start={local_since}") == {
        "req-ok-4", "req-ERR_MODEL_TIMEOUT-5"}
    assert "Times in Asia/Shanghai" in support_client.get(
        url + f"?tenant={store.tenant_id}&zone=tenant").content.decode()


def test_log_is_paginated(support_client, store, nodes):
    for minute in range(55):
        make_log(store, nodes["primary"], minutes_ago=minute)
    first = support_client.get(reverse("console_request_log")).content.decode()
    assert "Page 1 of 2" in first and "req-ok-0" in first and "req-ok-54" not in first
    second = support_client.get(reverse("console_request_log") + "?page=2").content.decode()
    assert "req-ok-54" in second


# Jobs and cost -----------------------------------------------------------------------------

def test_job_list_shows_failed_jobs_first(support_client, store, owner_a, nodes,
                                          model_sandbox):
    good = run_job(start(store, owner_a, [make_product(store)]))
    model_sandbox.state.set_behaviour("*", status=500)
    bad = run_job(start(store, owner_a, [make_product(store)]))
    model_sandbox.state.clear_behaviour()
    assert bad.status == "failed" and good.status == "completed"
    page = support_client.get(reverse("console_jobs")).content.decode()
    assert page.index(f"#{bad.pk}<") < page.index(f"#{good.pk}<")
    assert reverse("console_job_diagnose", args=[bad.pk]) in page
    filtered = support_client.get(reverse("console_jobs") + "?status=completed").content
    assert f"#{bad.pk}<".encode() not in filtered


def test_cost_figures_are_exact(support_client, store, owner_a, tenant_b, owner_b, pack,
                                nodes, model_sandbox):
    job = run_job(start(store, owner_a, [make_product(store), make_product(store)]))
    logs = list(ModelRequestLog.unscoped.filter(job=job))
    expected = sum((log.cost for log in logs), Decimal("0"))
    prompt = sum(log.prompt_tokens for log in logs)
    hit = sum(log.cache_hit_tokens for log in logs)
    other = make_store(tenant_b, owner_b)
    make_log(other, nodes["backup"], cost="0.250000", prompt=1000, hit=250,
             code="ERR_MODEL_TIMEOUT")

    from generation.reports import cost_report

    now = timezone.now()
    report = cost_report(now - timedelta(days=1), now + timedelta(minutes=1))
    alpha = next(row for row in report.by_tenant if row.key == store.tenant_id)
    assert alpha.cost == expected and alpha.items == 2 and alpha.requests == 2
    assert alpha.cost_per_1000_items == (expected * 500).quantize(Decimal("0.0001"))
    assert alpha.cache_hit_percent == (Decimal(hit) * 100 / prompt).quantize(Decimal("0.1"))
    beta = next(row for row in report.by_tenant if row.key == tenant_b.pk)
    assert beta.cost == Decimal("0.25") and beta.items == 0 and beta.failed_percent == 100
    assert beta.cost_per_1000_items is None and beta.cache_hit_percent == Decimal("25.0")
    by_node = {row.label: row for row in report.by_node}
    assert by_node["DeepSeek primary"].items == 2
    assert by_node["Self-hosted backup"].cost == Decimal("0.25")
    assert report.total.cost == expected + Decimal("0.25")

    page = support_client.get(reverse("console_model_cost")).content.decode()
    assert "Alpha Trading" in page and "Beta Gadgets" in page
    assert "0.25" in page and "100.0% (1)" in page and "25.0%" in page


# gateway.preview and the admin ---------------------------------------------------------------

def test_preview_uses_the_first_enabled_node_and_validates_the_kind(nodes, model_sandbox):
    from generation import gateway
    from generation.content import EXAMPLES, KIND_HEADER, LANGUAGE_HEADER, PRODUCT_DATA_HEADER

    messages = [{"role": "system", "content": "Answer in this shape: "
                 + str(EXAMPLES["title"])},
                {"role": "user", "content": f"{KIND_HEADER} title\n{LANGUAGE_HEADER} en (English)"
                 f"\n\n{PRODUCT_DATA_HEADER}\n{{\"title\":\"Mug\"}}"}]
    result = gateway.preview(None, messages, kind="title")
    assert result.node == nodes["primary"] and result.error_code == ""
    assert result.content["title"] and result.prompt_tokens > 0 and result.cost > 0
    model_sandbox.state.set_behaviour("deepseek-chat", count=1, blank=True)
    blank = gateway.preview(nodes["primary"], messages, kind="title")
    assert blank.error_code == "ERR_MODEL_INVALID_OUTPUT" and blank.content is None
    assert not ModelRequestLog.unscoped.exists()


def test_preview_without_a_node(db):
    from generation import gateway

    result = gateway.preview(None, [{"role": "user", "content": "hi"}], kind=None)
    assert result.node is None and result.error_code == "ERR_NO_MODEL_NODE"


def test_admin_never_shows_the_node_key(admin_client, nodes):
    node = nodes["primary"]
    page = admin_client.get(reverse("admin:generation_modelnode_change",
                                    args=[node.pk])).content.decode()
    assert "sk-test" not in page and 'name="api_key"' in page
    data = {**NODE_FORM, "name": node.name, "api_key": ""}
    response = admin_client.post(reverse("admin:generation_modelnode_change", args=[node.pk]),
                                 data)
    assert response.status_code == 302
    node.refresh_from_db()
    assert node.api_key == "sk-test" and node.model_name == "deepseek-r1"


def test_support_reads_generation_in_the_admin_but_cannot_add_nodes(support_client, nodes):
    assert support_client.get(reverse("admin:generation_modelnode_changelist")).status_code == 200
    assert support_client.get(reverse("admin:generation_modelnode_add")).status_code == 403


def test_support_sees_a_node_in_the_admin_without_its_key(support_client, nodes):
    page = support_client.get(reverse("admin:generation_modelnode_change",
                                      args=[nodes["primary"].pk])).content.decode()
    assert "DeepSeek primary" in page and "sk-test" not in page


# Mended: duplicates, invalid drafts, pagination links ----------------------------------------

def test_adding_a_listed_word_again_says_so_whatever_the_spacing(admin_client):
    form = {"marketplace": "temu", "language": "en", "term": "miracle  cure"}
    admin_client.post(reverse("console_banned_word_add"), form)
    response = admin_client.post(reverse("console_banned_word_add"),
                                 {**form, "term": " miracle cure "}, follow=True)
    assert "already exists." in response.content.decode()  # the form finds it first
    assert list(BannedWord.objects.filter(term__startswith="miracle")
                .values_list("term", flat=True)) == ["miracle cure"]


def test_an_invalid_draft_shows_the_set_again(admin_client):
    admin_client.get(reverse("console_instructions"))
    selected = title_set()
    response = admin_client.post(reverse("console_instruction_draft", args=[selected.pk]),
                                 {"text": "New text", "strict_text": ""})
    page = response.content.decode()
    assert response.status_code == 400 and "v1" in page
    assert "Starts from the published version 1." in page
    assert selected.versions.count() == 1


def test_banned_word_pages_keep_the_filter(admin_client):
    BannedWord.objects.bulk_create([BannedWord(term=f"cheap {n:03}", marketplace="temu")
                                    for n in range(120)])
    page = admin_client.get(reverse("console_banned_words"),
                            {"q": "cheap & co", "marketplace": "temu"}).content.decode()
    assert "No banned words match." in page
    page = admin_client.get(reverse("console_banned_words"),
                            {"q": "cheap", "marketplace": "temu"}).content.decode()
    assert "Page 1 of 2" in page and "q=cheap&amp;marketplace=temu&amp;page=2" in page
