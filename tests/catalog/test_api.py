"""API: products (filters, retrieve), sync runs (list, retrieve) and POST to request a sync."""

from __future__ import annotations

import pytest
from django.test import Client

from catalog.models import Product, QualityFlag, SyncRun
from sandbox import pool, shops
from stores.models import Store
from tenants import api_keys
from tenants.models import Tenant
from tenants.roles import TenantRole
from tenants.scope import tenant_scope

SHOP_300 = shops.SHOPS[shops.TEMU_SHOP_300]
ERROR_KEYS = {"code", "message", "details"}


def api_client(tenant, user, role=TenantRole.OWNER) -> Client:
    with tenant_scope(tenant):
        raw = api_keys.create_api_key(created_by=user, name=f"ERP {role}", role=role).raw_key
    return Client(HTTP_AUTHORIZATION=f"Api-Key {raw}")


@pytest.fixture
def api_a(tenant_a, owner_a) -> Client:
    return api_client(tenant_a, owner_a)


def test_products_list_with_filters(synced_300, api_a):
    body = api_a.get("/api/v1/products/").json()
    assert body["count"] == 300 and len(body["results"]) == 50
    item = pool.product(SHOP_300.shop_id, SHOP_300.seed, 11)
    found = api_a.get("/api/v1/products/", {"q": item.sku}).json()
    assert [p["marketplace_id"] for p in found["results"]] == [str(item.goods_id)]
    product = found["results"][0]
    assert product["store"] == synced_300.pk and product["sku"] == item.sku
    assert set(product["quality_flags"]) <= set(QualityFlag.values)

    flagged = api_a.get("/api/v1/products/", {"flag": "incomplete_parameters",
                                              "page_size": 200}).json()
    expected = Product.unscoped.filter(store=synced_300,
                                       quality_flags__contains=["incomplete_parameters"])
    assert flagged["count"] == expected.count() > 0
    assert all("incomplete_parameters" in p["quality_flags"] for p in flagged["results"])

    category = item.category
    by_category = api_a.get("/api/v1/products/", {"category": category,
                                                  "store": synced_300.pk}).json()
    assert by_category["count"] == Product.unscoped.filter(store=synced_300,
                                                           category=category).count()


def test_product_retrieve_and_other_tenants(synced_300, api_a, tenant_b, owner_b):
    product = Product.unscoped.filter(store=synced_300).first()
    detail = api_a.get(f"/api/v1/products/{product.pk}/")
    assert detail.status_code == 200
    assert detail.json()["title"] == product.title
    api_b = api_client(tenant_b, owner_b)
    assert api_b.get("/api/v1/products/").json()["count"] == 0
    missing = api_b.get(f"/api/v1/products/{product.pk}/")
    assert missing.status_code == 404 and set(missing.json()) == ERROR_KEYS


def test_products_are_read_only(synced_300, api_a):
    product = Product.unscoped.filter(store=synced_300).first()
    assert api_a.post("/api/v1/products/", {}).status_code == 405
    assert api_a.patch(f"/api/v1/products/{product.pk}/", {"title": "x"},
                       content_type="application/json").status_code == 405


def test_sync_runs_list_and_retrieve(synced_300, api_a, tenant_b, owner_b):
    run = SyncRun.unscoped.get(store=synced_300)
    listed = api_a.get("/api/v1/sync-runs/", {"store": synced_300.pk}).json()
    assert [r["id"] for r in listed["results"]] == [run.pk]
    detail = api_a.get(f"/api/v1/sync-runs/{run.pk}/").json()
    assert detail["status"] == "succeeded"
    assert (detail["created"], detail["total_reported"], detail["pages"]) == (300, 300, 3)
    assert detail["over_limit"] == 0 and detail["sku_limit"] == 5000
    assert api_client(tenant_b, owner_b).get(f"/api/v1/sync-runs/{run.pk}/").status_code == 404


def test_post_requests_a_sync_once(store_300, api_a, owner_a):
    first = api_a.post("/api/v1/sync-runs/", {"store": store_300.pk},
                       content_type="application/json")
    assert first.status_code == 202, first.content
    assert first.json()["status"] == "queued" and first.json()["requested_by"] == owner_a.email
    second = api_a.post("/api/v1/sync-runs/", {"store": store_300.pk},
                        content_type="application/json")
    assert second.status_code == 200 and second.json()["id"] == first.json()["id"]
    assert SyncRun.unscoped.filter(store=store_300).count() == 1


@pytest.mark.parametrize("role", [TenantRole.VIEWER, TenantRole.REVIEWER])
def test_post_needs_the_start_work_permission(store_300, tenant_a, owner_a, role):
    client = api_client(tenant_a, owner_a, role=role)
    response = client.post("/api/v1/sync-runs/", {"store": store_300.pk},
                           content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert client.get("/api/v1/sync-runs/").status_code == 200  # reading is fine
    assert not SyncRun.unscoped.exists()


def test_a_suspended_tenant_cannot_request_a_sync(store_300, api_a, tenant_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(status=Tenant.Status.SUSPENDED)
    response = api_a.post("/api/v1/sync-runs/", {"store": store_300.pk},
                          content_type="application/json")
    assert response.status_code == 403
    assert not SyncRun.unscoped.exists()


def test_post_errors_have_the_shared_shape(store_300, api_a, tenant_b, owner_b):
    invalid = api_a.post("/api/v1/sync-runs/", {}, content_type="application/json")
    assert invalid.status_code == 400 and set(invalid.json()) == ERROR_KEYS
    assert "store" in invalid.json()["details"]

    api_b = api_client(tenant_b, owner_b)
    foreign = api_b.post("/api/v1/sync-runs/", {"store": store_300.pk},
                         content_type="application/json")
    assert foreign.status_code == 400 and "store" in foreign.json()["details"]

    Store.unscoped.filter(pk=store_300.pk).update(status=Store.Status.REVOKED, access_token="")
    refused = api_a.post("/api/v1/sync-runs/", {"store": store_300.pk},
                         content_type="application/json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "sync_not_possible"
    assert not SyncRun.unscoped.exists()


def test_the_schema_documents_the_catalog_endpoints(db):
    schema = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    assert {"/api/v1/products/", "/api/v1/products/{id}/", "/api/v1/sync-runs/",
            "/api/v1/sync-runs/{id}/"} <= set(schema["paths"])
    assert "post" in schema["paths"]["/api/v1/sync-runs/"]
