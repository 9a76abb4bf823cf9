"""API: generation jobs (create, estimate, list, detail, cancel, retry failed items) and their
items; JobError answers 400 with the project's error body; other tenants get 404."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from catalog.models import Product, QualityFlag
from generation.models import GenerationJob
from tenants import api_keys
from tenants.roles import TenantRole
from tenants.scope import tenant_scope
from tests.generation.conftest import make_product, make_store, run_job

ERROR_KEYS = {"code", "message", "details"}


def api_client(tenant, user, role=TenantRole.OWNER) -> Client:
    with tenant_scope(tenant):
        raw = api_keys.create_api_key(created_by=user, name=f"ERP {role}", role=role).raw_key
    return Client(HTTP_AUTHORIZATION=f"Api-Key {raw}", HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def api_a(tenant_a, owner_a) -> Client:
    return api_client(tenant_a, owner_a)


def post(client: Client, url: str, payload: dict | None = None):
    return client.post(url, json.dumps(payload or {}), content_type="application/json")


def payload(store, **extra) -> dict:
    """A job request; every SKU of the store (asked for explicitly) unless told otherwise."""
    body = {"store": store.pk, "kinds": ["title", "search_terms"], "languages": ["en"],
            "compliance_mode": True}
    if not {"product_ids", "q", "category", "flag", "all"} & set(extra):
        body["all"] = True
    body.update(extra)
    return body


def test_estimate(api_a, store, products):
    make_product(store, flags=[QualityFlag.INCOMPLETE_PARAMETERS])
    response = post(api_a, "/api/v1/jobs/estimate/", payload(store))
    assert response.status_code == 200
    body = response.json()
    assert body["skus"] == 4 and body["items"] == 8 and body["calls"] == 6
    assert body["included_left"] == 500 and body["overage_calls"] == 0
    assert body["overage_cost"] == "0.00" and body["can_start"] is True
    assert body["input_problems"][0]["code"] == "ERR_INPUT_PARAMETERS"
    assert body["input_problems"][0]["items"] == 2
    assert body["input_problems"][0]["meaning"] and body["input_problems"][0]["remedy"]
    assert not GenerationJob.unscoped.exists()
    only = post(api_a, "/api/v1/jobs/estimate/",
                payload(store, product_ids=[products[0].pk])).json()
    assert only["skus"] == 1


def test_create_list_detail_items(api_a, store, products, nodes):
    response = post(api_a, "/api/v1/jobs/", payload(store, q=products[0].sku))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["items_total"] == 2 and body["status"] == "queued"
    assert body["store"] == store.pk and body["selection"] == {
        "filter": {"q": products[0].sku, "category": "", "flag": ""}}
    job = run_job(GenerationJob.unscoped.get(pk=body["id"]))
    detail = api_a.get(f"/api/v1/jobs/{job.pk}/").json()
    assert detail["status"] == "completed" and detail["items_succeeded"] == 2
    assert detail["progress_percent"] == 100 and detail["is_active"] is False
    listed = api_a.get("/api/v1/jobs/", {"status": "completed"}).json()
    assert [j["id"] for j in listed["results"]] == [job.pk]
    assert api_a.get("/api/v1/jobs/", {"status": "failed"}).json()["count"] == 0
    items = api_a.get(f"/api/v1/jobs/{job.pk}/items/", {"kind": "title"}).json()
    assert items["count"] == 1
    item = items["results"][0]
    assert item["status"] == "ready" and item["plain_text"] and item["error"] is None
    assert item["sku"] == products[0].sku and item["node"] == "DeepSeek primary"
    one = api_a.get(f"/api/v1/job-items/{item['id']}/").json()
    assert one["content"] == item["content"]
    assert api_a.get("/api/v1/job-items/", {"job": job.pk}).json()["count"] == 2


def test_job_errors_are_400_with_the_error_body(api_a, store, products, tenant_a, owner_a):
    response = post(api_a, "/api/v1/jobs/", payload(store, kinds=[]))
    assert response.status_code == 400
    body = response.json()
    assert set(body) == ERROR_KEYS and body["code"] == "job_error"
    assert body["details"] == {"kinds": ["Choose at least one content kind."]}
    french = post(api_a, "/api/v1/jobs/estimate/", payload(store, languages=["ru"])).json()
    assert french["code"] == "job_error" and "languages" in french["details"]
    unsubscribed = make_store(tenant_a, owner_a)
    make_product(unsubscribed)
    refused = post(api_a, "/api/v1/jobs/", payload(unsubscribed))
    assert refused.status_code == 400 and refused.json()["code"] == "ERR_NO_SUBSCRIPTION"
    estimate = post(api_a, "/api/v1/jobs/estimate/", payload(unsubscribed)).json()
    assert estimate["can_start"] is False and "no subscription" in estimate["unusable_reason"]
    nothing = post(api_a, "/api/v1/jobs/", payload(store, q="no-such-sku-anywhere"))
    assert nothing.status_code == 400 and nothing.json()["details"] == {
        "selection": ["No SKUs match the selection."]}
    invalid = post(api_a, "/api/v1/jobs/", {"store": store.pk, "kinds": ["poem"]})
    assert invalid.status_code == 400 and set(invalid.json()) == ERROR_KEYS
    assert "kinds" in invalid.json()["details"]


def test_cancel_and_retry(api_a, store, nodes, django_capture_on_commit_callbacks):
    product = make_product(store, flags=[QualityFlag.INCOMPLETE_PARAMETERS])
    make_product(store)
    created = post(api_a, "/api/v1/jobs/", payload(store, kinds=["title"])).json()
    cancelled = post(api_a, f"/api/v1/jobs/{created['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["items_cancelled"] == 1
    again = post(api_a, f"/api/v1/jobs/{created['id']}/cancel/")
    assert again.status_code == 400 and again.json()["code"] == "job_ended"

    with django_capture_on_commit_callbacks(execute=True):
        created = post(api_a, "/api/v1/jobs/", payload(store, kinds=["title"])).json()
    job = run_job(GenerationJob.unscoped.get(pk=created["id"]))
    assert job.status == "completed_with_errors"
    failed = api_a.get(f"/api/v1/jobs/{job.pk}/items/", {"status": "failed"}).json()
    assert failed["results"][0]["error"]["code"] == "ERR_INPUT_PARAMETERS"
    blocked = post(api_a, f"/api/v1/jobs/{job.pk}/retry-failed/")
    assert blocked.status_code == 400 and blocked.json()["code"] == "nothing_to_retry"
    Product.unscoped.filter(pk=product.pk).update(quality_flags=[])
    retried = post(api_a, f"/api/v1/jobs/{job.pk}/retry-failed/")
    assert retried.status_code == 200 and retried.json()["status"] == "running"
    assert run_job(job).status == "completed"


def test_viewer_key_reads_but_cannot_start_or_cancel(tenant_a, owner_a, api_a, store,
                                                     products):
    viewer = api_client(tenant_a, owner_a, role=TenantRole.VIEWER)
    assert post(viewer, "/api/v1/jobs/", payload(store)).status_code == 403
    assert post(viewer, "/api/v1/jobs/estimate/", payload(store)).status_code == 200
    job = post(api_a, "/api/v1/jobs/", payload(store)).json()
    assert viewer.get(f"/api/v1/jobs/{job['id']}/").status_code == 200
    refused = post(viewer, f"/api/v1/jobs/{job['id']}/cancel/")
    assert refused.status_code == 403 and set(refused.json()) == ERROR_KEYS
    assert post(viewer, f"/api/v1/jobs/{job['id']}/retry-failed/").status_code == 403


def test_other_tenant_gets_404(api_a, store, products, tenant_b, owner_b):
    job = post(api_a, "/api/v1/jobs/", payload(store)).json()
    api_b = api_client(tenant_b, owner_b)
    assert api_b.get(f"/api/v1/jobs/{job['id']}/").status_code == 404
    assert post(api_b, f"/api/v1/jobs/{job['id']}/cancel/").status_code == 404
    assert api_b.get(f"/api/v1/jobs/{job['id']}/items/").status_code == 404
    assert api_b.get("/api/v1/jobs/").json()["count"] == 0
    assert api_b.get("/api/v1/job-items/").json()["count"] == 0
    foreign = post(api_b, "/api/v1/jobs/estimate/", payload(store))
    assert foreign.status_code == 404 and foreign.json()["code"] == "store_not_found"


def test_schema_documents_the_job_endpoints(api_a):
    schema = api_a.get("/api/v1/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    for path in ("/api/v1/jobs/", "/api/v1/jobs/estimate/", "/api/v1/jobs/{id}/cancel/",
                 "/api/v1/jobs/{id}/retry-failed/", "/api/v1/jobs/{id}/items/",
                 "/api/v1/job-items/{id}/"):
        assert path in paths
