"""The effect pages (Chinese and English) and the API: per-listing chart and verdict, the store
dashboard, the overview; tenant-scoped (another tenant gets 404); bad input gets a 400."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from effects import services
from effects.models import EffectListing
from sandbox import pool, shops, traffic
from tenants.scope import tenant_scope
from tests.conftest import client_for, english_client, owner_key
from tests.effects.conftest import publish_items

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


@pytest.fixture
def measured(sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    """Tenant A's sandbox store with 3 published listings, 29 days after the publish."""
    publish_items(sandbox_desk, [0, 1, 2], django_capture_on_commit_callbacks)
    with tenant_scope(sandbox_desk.tenant):
        services.register_listings(sandbox_desk.store)
        traffic.advance(29)
        services.sync_store(sandbox_desk.store, through=traffic.today() - timedelta(days=1))
        services.attribute_store(sandbox_desk.store)
        listing = EffectListing.objects.get(
            marketplace_id=str(pool.goods_id_for(shops.TEMU_SHOP_300, 0)))
    return sandbox_desk, listing


def test_the_listing_page_shows_the_chart_baseline_window_and_verdict(measured):
    desk, listing = measured
    page = english_client(desk.owner, desk.tenant).get(
        reverse("effects_listing", args=[listing.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("<svg") == 2 and "<polyline points=" in html  # CTR and CVR, server-side
    assert "AI publish" in html and "baseline" in html and "Rule window" in html
    assert listing.verdict.get_verdict_display() in html
    assert "cdn" not in html.lower() and "<script src=\"http" not in html
    zh = client_for(desk.owner, desk.tenant).get(reverse("effects_listing", args=[listing.pk]))
    assert zh.status_code == 200 and "基线" in zh.content.decode()


def test_the_store_dashboard_and_overview(measured):
    desk, listing = measured
    client = english_client(desk.owner, desk.tenant)
    page = client.get(reverse("effects_store", args=[desk.store.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert listing.marketplace_id in html and "Average CTR lift" in html
    filtered = client.get(reverse("effects_store", args=[desk.store.pk]),
                          {"verdict": listing.verdict.verdict})
    assert listing.marketplace_id in filtered.content.decode()
    assert client.get(reverse("effects_store", args=[desk.store.pk]),
                      {"verdict": "nonsense"}).status_code == 200  # ignored, not a 500
    overview = client.get(reverse("effects"))
    assert overview.status_code == 200
    assert desk.store.display_name in overview.content.decode()
    assert "Per content kind" in overview.content.decode()


def test_another_tenant_gets_404_on_pages_and_api(measured, tenant_b, owner_b):
    desk, listing = measured
    other = client_for(owner_b, tenant_b)
    assert other.get(reverse("effects_listing", args=[listing.pk])).status_code == 404
    assert other.get(reverse("effects_store", args=[desk.store.pk])).status_code == 404
    key = owner_key(tenant_b, owner_b)
    api = other.get(f"/api/v1/effects/listings/{listing.pk}/",
                    HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert api.status_code == 404
    assert other.get("/api/v1/effects/listings/").json()["results"] == []
    summary = other.get("/api/v1/effects/listings/summary/", {"by": "store"}).json()
    assert summary == []


def test_the_api_lists_reads_and_summarizes(measured):
    desk, listing = measured
    client = english_client(desk.owner, desk.tenant)
    listed = client.get("/api/v1/effects/listings/", {"store": desk.store.pk}).json()
    assert listed["count"] == 3
    assert {row["verdict"]["verdict"] for row in listed["results"]} <= {
        "effective", "rule_met_not_significant", "not_effective", "not_enough_data"}
    detail = client.get(f"/api/v1/effects/listings/{listing.pk}/").json()
    assert len(detail["days"]) == 28 + 1 + 28 and detail["reason_text"]
    assert detail["window_start"] == str(listing.publish_day + timedelta(days=1))
    for by in ("store", "tenant", "instruction_version", "content_kind"):
        rows = client.get("/api/v1/effects/listings/summary/", {"by": by}).json()
        assert sum(row["listings"] for row in rows) == 3, by


def test_bad_filters_get_a_400_with_code_message_details(measured):
    desk, _listing = measured
    client = english_client(desk.owner, desk.tenant)
    for params in ({"verdict": "great"}, {"store": "abc"}):
        answer = client.get("/api/v1/effects/listings/", params)
        assert answer.status_code == 400, params
        body = answer.json()
        assert {"code", "message", "details"} <= set(body)
    answer = client.get("/api/v1/effects/listings/summary/", {"by": "planet"})
    assert answer.status_code == 400


def test_the_endpoints_are_in_the_openapi_schema(owner_a, tenant_a):
    schema = client_for(owner_a, tenant_a).get("/api/v1/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "/api/v1/effects/listings/" in paths
    assert "/api/v1/effects/listings/{id}/" in paths
    assert "/api/v1/effects/listings/summary/" in paths
    summary = paths["/api/v1/effects/listings/summary/"]["get"]["responses"]["200"]
    assert summary["content"]["application/json"]["schema"]["type"] == "array"  # not paged
    assert "/api/v1/effects/experiments/{id}/" in paths
