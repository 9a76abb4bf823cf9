"""Seller portal: job list, new job with its estimate, start, job detail with progress and
items, cancel, retry failed items, brand voice and own banned words."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing import services as billing
from billing.models import StoreSubscription
from catalog.models import Product, QualityFlag
from generation import pipeline
from generation.models import BrandVoice, GenerationItem, GenerationJob, TenantBannedWord
from tenants.roles import TenantRole
from tests.conftest import add_member, client_for
from tests.conftest import english_client as _client
from tests.generation.conftest import make_product, make_store, run_job

HTMX = {"HX-Request": "true"}  # what htmx sends with its requests


@pytest.fixture
def owner_client(tenant_a, owner_a) -> Client:
    return _client(owner_a, tenant_a)


@pytest.fixture
def viewer_client(tenant_a) -> Client:
    return _client(add_member(tenant_a, TenantRole.VIEWER), tenant_a)


def job_payload(store, **extra) -> dict:
    """The new-job form; every SKU of the store (ticked explicitly) unless told otherwise."""
    payload = {"store": store.pk, "kinds": ["title", "bullet_points"],
               "languages": ["en", "de"], "compliance_mode": "on", "action": "start"}
    if not {"product_ids", "q", "category", "flag", "all_skus"} & set(extra):
        payload["all_skus"] = "on"
    payload.update(extra)
    return payload


def test_job_list_renders_empty_and_with_jobs(owner_client, store, products, nodes):
    page = owner_client.get(reverse("jobs"))
    assert page.status_code == 200
    assert "No generation jobs yet." in page.content.decode()
    response = owner_client.post(reverse("job_new"), job_payload(store))
    job = GenerationJob.unscoped.get()
    page = owner_client.get(reverse("jobs")).content.decode()
    assert f"#{job.pk}" in page and str(store) in page
    assert "Title, Bullet points" in page and "English, German" in page
    assert response.status_code == 302
    filtered = owner_client.get(reverse("jobs"), {"status": "cancelled"}).content.decode()
    assert "No job matches these filters." in filtered


def test_new_job_page_preselects_site_languages_and_explains_unusable_stores(
        owner_client, store, products, tenant_a, owner_a):
    unsubscribed = make_store(tenant_a, owner_a)
    page = owner_client.get(reverse("job_new"), {"store": store.pk}).content.decode()
    assert 'name="languages" value="en"' in page
    assert re.search(r'value="en"[^>]*checked', page)
    assert not re.search(r'value="fr"[^>]*checked', page)  # Temu US: English only
    assert "cannot start" in page and unsubscribed.display_name in page
    assert "has no subscription" in page
    chosen = owner_client.get(reverse("job_new"), {"store": unsubscribed.pk}).content.decode()
    assert "Start job" not in chosen


def test_preview_shows_the_estimate_with_input_problems(owner_client, store, products):
    make_product(store, flags=[QualityFlag.FEW_ATTRIBUTE_WORDS])
    response = owner_client.post(reverse("job_new"), job_payload(store, action="preview"))
    page = response.content.decode()
    assert response.status_code == 200 and not GenerationJob.unscoped.exists()
    assert 'data-estimate="skus">4<' in page
    assert 'data-estimate="items">16<' in page
    assert 'data-estimate="calls">12<' in page
    assert 'data-estimate="included_left">500<' in page
    assert "0 calls × CNY 0.80 = CNY 0.00" in page
    assert "ERR_INPUT_TITLE_ATTRIBUTES" in page
    fragment = owner_client.post(reverse("job_estimate"), job_payload(store),
                                 headers=HTMX).content.decode()
    assert 'data-estimate="calls">12<' in fragment and "<html" not in fragment
    # Without htmx the same request answers the whole page with the estimate (and never
    # starts the job, whatever the button).
    whole = owner_client.post(reverse("job_estimate"),
                              job_payload(store, action="start")).content.decode()
    assert "<html" in whole and 'data-estimate="calls">12<' in whole
    assert not GenerationJob.unscoped.exists()


def test_job_error_shows_as_a_form_error(owner_client, store, products):
    response = owner_client.post(reverse("job_new"), job_payload(store, kinds=[]))
    assert response.status_code == 200
    assert "Choose at least one content kind." in response.content.decode()
    fragment = owner_client.post(reverse("job_estimate"), job_payload(store, languages=[]),
                                 headers=HTMX)
    assert "Choose at least one language." in fragment.content.decode()
    assert not GenerationJob.unscoped.exists()


def test_a_live_panel_whose_session_ended_sends_the_whole_page_to_sign_in(
        owner_client, store, products, nodes):
    """htmx follows a plain redirect and would put the sign-in form inside the panel."""
    owner_client.post(reverse("job_new"), job_payload(store))
    job = GenerationJob.unscoped.get()
    page = reverse("job_detail", args=[job.pk])
    owner_client.logout()
    answer = owner_client.get(reverse("job_progress", args=[job.pk]),
                              headers={**HTMX, "HX-Current-URL": f"http://testserver{page}"})
    assert answer.status_code == 200
    assert answer["HX-Redirect"] == f"{reverse('account_login')}?next={page}"


def test_start_runs_and_detail_shows_items(owner_client, store, products, nodes):
    response = owner_client.post(reverse("job_new"), job_payload(store))
    job = GenerationJob.unscoped.get()
    assert response.status_code == 302 and response["Location"] == reverse("job_detail",
                                                                           args=[job.pk])
    assert job.items_total == 12 and job.compliance_mode and job.created_by.email
    progress_url = reverse("job_progress", args=[job.pk])
    page = owner_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert f'hx-get="{progress_url}" hx-trigger="every 2s"' in page
    progress = owner_client.get(progress_url, headers=HTMX)
    assert progress["Vary"].startswith("HX-Request") and "<html" not in progress.content.decode()
    assert 'data-active="true"' in progress.content.decode()
    assert f'hx-get="{progress_url}"' in progress.content.decode()
    # Without htmx the progress address is the job's page.
    assert owner_client.get(progress_url)["Location"] == reverse("job_detail", args=[job.pk])
    run_job(job)
    assert job.status == GenerationJob.Status.COMPLETED
    finished = owner_client.get(progress_url, headers=HTMX)  # htmx reloads the whole page
    assert finished.status_code == 200 and finished["HX-Refresh"] == "true"
    page = owner_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'data-active="false"' in page and f'hx-get="{progress_url}"' not in page
    assert "100%" in page
    assert "Ready for review" in page and f"?job={job.pk}" in page
    assert products[0].sku in page and "DeepSeek primary" in page
    german = owner_client.get(reverse("job_detail", args=[job.pk]),
                              {"language": "de", "kind": "title"}).content.decode()
    assert "3 items" in german


def test_failed_item_shows_code_meaning_and_remedy_and_retry(owner_client, store, nodes,
                                                             django_capture_on_commit_callbacks):
    product = make_product(store, flags=[QualityFlag.INCOMPLETE_PARAMETERS])
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("job_new"), job_payload(store, kinds=["title"],
                                                          languages=["en"]))
    job = run_job(GenerationJob.unscoped.get())
    assert job.status == GenerationJob.Status.FAILED
    page = owner_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "ERR_INPUT_PARAMETERS" in page and "What to do:" in page
    assert "Retry failed items" in page
    nothing = owner_client.post(reverse("job_retry", args=[job.pk]), follow=True)
    assert "fix the inputs first" in nothing.content.decode()
    Product.unscoped.filter(pk=product.pk).update(quality_flags=[])
    retried = owner_client.post(reverse("job_retry", args=[job.pk]), follow=True)
    assert "1 failed item is being generated again." in retried.content.decode()
    job = run_job(job)
    assert job.status == GenerationJob.Status.COMPLETED and job.items_succeeded == 1


def test_cancel_stops_the_rest(owner_client, store, products, nodes):
    owner_client.post(reverse("job_new"), job_payload(store))
    job = GenerationJob.unscoped.get()
    page = owner_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "Cancel job" in page
    assert 'hx-confirm="Cancel this job? Items not yet running will not run."' in page
    # Through htmx (after the confirmation), the answer sends the browser to the job's page.
    answer = owner_client.post(reverse("job_cancel", args=[job.pk]), headers=HTMX)
    assert answer["HX-Redirect"] == reverse("job_detail", args=[job.pk])
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.CANCELLED
    assert not GenerationItem.unscoped.filter(job=job, status="queued").exists()
    assert "cancelled" in owner_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    again = owner_client.post(reverse("job_cancel", args=[job.pk]), follow=True)
    assert "The job has already ended." in again.content.decode()


def test_viewer_sees_but_cannot_start_cancel_or_retry(viewer_client, owner_client, store,
                                                      products, nodes):
    assert viewer_client.get(reverse("jobs")).status_code == 200
    page = viewer_client.get(reverse("job_new"), {"store": store.pk})
    assert page.status_code == 200 and "Start job" not in page.content.decode()
    assert viewer_client.post(reverse("job_new"), job_payload(store)).status_code == 403
    assert not GenerationJob.unscoped.exists()
    owner_client.post(reverse("job_new"), job_payload(store))
    job = GenerationJob.unscoped.get()
    detail = viewer_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "Cancel job" not in detail
    assert viewer_client.post(reverse("job_cancel", args=[job.pk])).status_code == 403
    assert viewer_client.post(reverse("job_retry", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.is_active


def test_over_the_cap_and_overage_in_the_estimate(owner_client, tenant_a, owner_a, small_pack):
    store = make_store(tenant_a, owner_a)
    subscription = billing.subscribe_store(store, small_pack, by=None)
    type(subscription).unscoped.filter(pk=subscription.pk).update(daily_overage_cap=3)
    for _ in range(3):
        make_product(store)
    page = owner_client.post(reverse("job_new"), job_payload(
        store, kinds=["title", "search_terms"], languages=["en"],
        action="preview")).content.decode()
    assert 'data-estimate="calls">6<' in page
    assert "3 calls × CNY 0.80 = CNY 2.40" in page
    assert "1 call is beyond today" in page


def test_brand_voice_and_own_banned_words(owner_client, viewer_client, tenant_a, store):
    page = owner_client.get(reverse("generation_settings"))
    assert page.status_code == 200
    owner_client.post(reverse("generation_settings"),
                      {"action": "voice", "notes": "Friendly, never shout."})
    assert BrandVoice.unscoped.get(tenant=tenant_a).notes == "Friendly, never shout."
    response = owner_client.post(reverse("generation_settings"), {
        "action": "word", "term": "  Miracle  cure ", "marketplace": "temu", "language": ""})
    assert response.status_code == 302
    word = TenantBannedWord.unscoped.get(tenant=tenant_a)
    assert word.term == "Miracle cure" and word.created_by is not None
    assert "Miracle cure" in pipeline.banned_terms(tenant_a.pk, "temu", "en")
    assert "Miracle cure" not in pipeline.banned_terms(tenant_a.pk, "aliexpress", "en")
    duplicate = owner_client.post(reverse("generation_settings"), {
        "action": "word", "term": "Miracle cure", "marketplace": "temu", "language": ""})
    assert "already on your list" in duplicate.content.decode()
    listed = viewer_client.get(reverse("generation_settings")).content.decode()
    assert "Miracle cure" in listed and "Friendly, never shout." in listed
    assert viewer_client.post(reverse("generation_settings"),
                              {"action": "voice", "notes": "x"}).status_code == 403
    assert viewer_client.post(reverse("banned_word_delete", args=[word.pk])).status_code == 403
    owner_client.post(reverse("banned_word_delete", args=[word.pk]))
    assert not TenantBannedWord.unscoped.exists()


def test_brand_voice_reaches_the_request(owner_client, tenant_a, store, products, nodes):
    owner_client.post(reverse("generation_settings"),
                      {"action": "voice", "notes": "Say 'bottle', never 'flask'."})
    owner_client.post(reverse("job_new"), job_payload(store, kinds=["title"], languages=["en"]))
    job = GenerationJob.unscoped.get()
    item = GenerationItem.unscoped.filter(job=job).first()
    assert pipeline._context(item)[1] == "Say 'bottle', never 'flask'."


def test_other_tenant_gets_404(store, products, nodes, owner_client, tenant_b, owner_b):
    owner_client.post(reverse("job_new"), job_payload(store))
    job = GenerationJob.unscoped.get()
    other = _client(owner_b, tenant_b)
    for name in ("job_detail", "job_progress"):
        assert other.get(reverse(name, args=[job.pk])).status_code == 404
    assert other.post(reverse("job_cancel", args=[job.pk])).status_code == 404
    assert f"#{job.pk}" not in other.get(reverse("jobs")).content.decode()


def test_generate_for_selected_from_the_catalog(owner_client, store, products, nodes,
                                                tenant_a, owner_a):
    catalog = owner_client.get(reverse("catalog")).content.decode()
    assert "Generate for selected" in catalog
    assert f'name="product_ids" value="{products[0].pk}"' in catalog
    other_store = make_store(tenant_a, owner_a)
    elsewhere = make_product(other_store)
    page = owner_client.get(reverse("job_new"), {
        "product_ids": [products[0].pk, products[2].pk, elsewhere.pk]}).content.decode()
    assert "2 SKUs selected in the catalog." in page
    assert f'value="{store.pk}" selected' in page
    response = owner_client.post(reverse("job_new"), {
        **job_payload(store, kinds=["title"], languages=["en"]),
        "product_ids": [products[0].pk, products[2].pk]})
    job = GenerationJob.unscoped.get()
    assert response.status_code == 302 and job.items_total == 2
    assert job.selection == {"product_ids": [products[0].pk, products[2].pk]}


def test_times_in_the_tenants_time_zone_and_pages_in_chinese(tenant_a, owner_a, store,
                                                             products, nodes):
    type(tenant_a).objects.filter(pk=tenant_a.pk).update(time_zone="Europe/Berlin")
    # The store's subscription began today in the old time zone, which may be tomorrow in
    # Berlin (from 16:00 UTC, Shanghai is a day ahead): let it have begun a day earlier.
    StoreSubscription.unscoped.filter(store=store).update(starts_on=F("starts_on") - 1)
    client = _client(owner_a, tenant_a)
    page = client.post(reverse("job_new"), job_payload(store, action="preview")).content.decode()
    assert re.search(r'data-estimate="resets_at">\d{4}-\d\d-\d\d 00:00 \(Europe/Berlin\)', page)
    client.post(reverse("job_new"), job_payload(store))
    job = GenerationJob.unscoped.get()
    local = timezone.localtime(job.created_at, ZoneInfo("Europe/Berlin"))
    assert local.strftime("%Y-%m-%d %H:%M") in client.get(reverse("jobs")).content.decode()
    chinese = client_for(owner_a, tenant_a)
    chinese.cookies["django_language"] = "zh-hans"
    for url in (reverse("jobs"), reverse("job_new"), reverse("job_detail", args=[job.pk]),
                reverse("generation_settings")):
        assert chinese.get(url).status_code == 200
    assert chinese.get(reverse("job_progress", args=[job.pk]), headers=HTMX).status_code == 200


def test_new_job_page_looks_up_one_subscription_per_store(owner_client, store, products,
                                                          tenant_a, owner_a, pack):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get(reverse("job_new"), {"store": store.pk}).status_code == 200
        return len(captured)

    before = queries()
    for _ in range(3):
        billing.subscribe_store(make_store(tenant_a, owner_a), pack, by=None)
    assert queries() - before <= 3
    # The estimate panel needs only the chosen store's quota, however many stores there are.
    with CaptureQueriesContext(connection) as few:
        owner_client.post(reverse("job_estimate"), job_payload(store, action="preview"),
                          headers=HTMX)
    for _ in range(3):
        make_store(tenant_a, owner_a)
    with CaptureQueriesContext(connection) as more:
        owner_client.post(reverse("job_estimate"), job_payload(store, action="preview"),
                          headers=HTMX)
    assert len(more) == len(few)
