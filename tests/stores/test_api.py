"""The stores API: tenant-scoped reads that never show the token, and writes for START_WORK."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from sandbox.shops import TEMU_SHOP_300, TEMU_SHOP_CA
from stores.models import Store
from tenants import api_keys
from tenants.models import Tenant
from tenants.roles import TenantRole
from tenants.scope import tenant_scope
from tests.portal.test_api import assert_error_shape
from tests.stores.conftest import TOKEN, make_store, reload


def api_client(tenant, user, role=TenantRole.OPERATOR) -> Client:
    with tenant_scope(tenant):
        raw = api_keys.create_api_key(created_by=user, name=f"ERP {role}", role=role).raw_key
    return Client(HTTP_AUTHORIZATION=f"Api-Key {raw}", HTTP_ACCEPT_LANGUAGE="en")


def test_list_and_retrieve_never_show_the_token(tenant_a, owner_a, tenant_b, owner_b):
    mine = make_store(tenant_a, owner_a)
    make_store(tenant_b, owner_b, display_name="Beta Shop")
    client = api_client(tenant_a, owner_a, TenantRole.VIEWER)
    listing = client.get("/api/v1/stores/")
    assert listing.status_code == 200
    body = listing.json()
    assert body["count"] == 1
    assert [s["id"] for s in body["results"]] == [mine.pk]
    detail = client.get(f"/api/v1/stores/{mine.pk}/").json()
    assert detail["site_code"] == "temu-us" and detail["site_label"] == "Temu United States"
    assert detail["marketplace"] == "temu" and detail["status"] == "connected"
    assert detail["token_expiring_soon"] is False and detail["last_error"] is None
    assert "access_token" not in detail
    assert TOKEN not in listing.content.decode() + str(detail)


def test_another_tenants_store_is_404(tenant_a, owner_a, tenant_b, owner_b):
    theirs = make_store(tenant_b, owner_b)
    client = api_client(tenant_a, owner_a)
    assert_error_shape(client.get(f"/api/v1/stores/{theirs.pk}/"), 404, "not_found")
    assert_error_shape(client.post(f"/api/v1/stores/{theirs.pk}/revoke/"), 404, "not_found")
    assert reload(theirs).status == Store.Status.CONNECTED


def test_last_error_carries_meaning_and_remedy(tenant_a, owner_a):
    store = make_store(tenant_a, owner_a, last_error_code="ERR_IP_NOT_WHITELISTED",
                       last_error_message="ip refused", status=Store.Status.IP_NOT_WHITELISTED)
    error = api_client(tenant_a, owner_a).get(f"/api/v1/stores/{store.pk}/").json()["last_error"]
    assert error["code"] == "ERR_IP_NOT_WHITELISTED" and error["message"] == "ip refused"
    assert "IP whitelist" in error["meaning"] and "egress IPs" in error["remedy"]


def test_add_a_store(sandbox, tenant_a, owner_a):
    client = api_client(tenant_a, owner_a)
    response = client.post("/api/v1/stores/", {
        "site_code": "temu-us", "authorization_code": sandbox.state.issue_code(TEMU_SHOP_300),
    }, content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["shop_id"] == TEMU_SHOP_300 and body["status"] == "connected"
    assert "access_token" not in body
    store = Store.unscoped.get(pk=body["id"])
    assert store.tenant == tenant_a and store.access_token not in response.content.decode()


def test_add_with_a_used_code_answers_the_catalogue_code(sandbox, tenant_a, owner_a):
    client = api_client(tenant_a, owner_a)
    code = sandbox.state.issue_code(TEMU_SHOP_300, valid_for=-timedelta(days=1))
    body = assert_error_shape(client.post("/api/v1/stores/", {
        "site_code": "temu-us", "authorization_code": code}, content_type="application/json"),
        400, "ERR_AUTH_CODE_INVALID")
    assert "Generate a new authorization code" in body["details"]["authorization_code"][0]


def test_add_the_same_shop_twice(sandbox, tenant_a, owner_a):
    client = api_client(tenant_a, owner_a)
    for expected in (201, 400):
        response = client.post("/api/v1/stores/", {
            "site_code": "temu-us", "authorization_code": sandbox.state.issue_code(TEMU_SHOP_300),
        }, content_type="application/json")
        assert response.status_code == expected
    assert_error_shape(response, 400, "store_exists")


@pytest.mark.django_db
def test_add_validates_its_fields(tenant_a, owner_a):
    client = api_client(tenant_a, owner_a)
    body = assert_error_shape(client.post("/api/v1/stores/", {"site_code": "temu-mars"},
                                          content_type="application/json"), 400, "invalid")
    assert set(body["details"]) == {"site_code", "authorization_code"}


def test_reauthorize(sandbox, tenant_a, owner_a):
    client = api_client(tenant_a, owner_a)
    created = client.post("/api/v1/stores/", {
        "site_code": "temu-us", "authorization_code": sandbox.state.issue_code(TEMU_SHOP_300),
    }, content_type="application/json").json()
    old_token = Store.unscoped.get(pk=created["id"]).access_token
    url = f"/api/v1/stores/{created['id']}/reauthorize/"
    wrong = client.post(url, {"authorization_code": sandbox.state.issue_code(TEMU_SHOP_CA)},
                        content_type="application/json")
    assert_error_shape(wrong, 400, "wrong_shop")
    response = client.post(url, {"authorization_code": sandbox.state.issue_code(TEMU_SHOP_300)},
                           content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "connected"
    assert Store.unscoped.get(pk=created["id"]).access_token != old_token


def test_revoke(tenant_a, owner_a):
    store = make_store(tenant_a, owner_a)
    response = api_client(tenant_a, owner_a).post(f"/api/v1/stores/{store.pk}/revoke/")
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    assert reload(store).access_token == ""


@pytest.mark.parametrize("role", [TenantRole.VIEWER, TenantRole.REVIEWER])
def test_reading_roles_cannot_write(tenant_a, owner_a, role):
    store = make_store(tenant_a, owner_a)
    client = api_client(tenant_a, owner_a, role)
    assert client.get("/api/v1/stores/").status_code == 200
    for url, data in (("/api/v1/stores/", {"site_code": "temu-us", "authorization_code": "x"}),
                      (f"/api/v1/stores/{store.pk}/reauthorize/", {"authorization_code": "x"}),
                      (f"/api/v1/stores/{store.pk}/revoke/", {})):
        assert_error_shape(client.post(url, data, content_type="application/json"), 403,
                           "permission_denied")
    assert reload(store).status == Store.Status.CONNECTED


def test_a_suspended_tenant_cannot_write(tenant_a, owner_a):
    store = make_store(tenant_a, owner_a)
    client = api_client(tenant_a, owner_a, TenantRole.OWNER)
    Tenant.objects.filter(pk=tenant_a.pk).update(status=Tenant.Status.SUSPENDED)
    assert client.get(f"/api/v1/stores/{store.pk}/").status_code == 200
    assert_error_shape(client.post(f"/api/v1/stores/{store.pk}/revoke/"), 403)
    assert reload(store).status == Store.Status.CONNECTED


@pytest.mark.django_db
def test_the_schema_documents_the_endpoints():
    schema = Client().get("/api/v1/schema/?format=json").json()
    assert "/api/v1/stores/" in schema["paths"]
    assert "post" in schema["paths"]["/api/v1/stores/"]
    assert "/api/v1/stores/{id}/reauthorize/" in schema["paths"]
    properties = schema["components"]["schemas"]["Store"]["properties"]
    assert "access_token" not in properties


def test_reauthorize_validates_its_body(tenant_a, owner_a):
    store = make_store(tenant_a, owner_a)
    client = api_client(tenant_a, owner_a)
    url = f"/api/v1/stores/{store.pk}/reauthorize/"
    assert_error_shape(client.post(url, data="{", content_type="application/json"), 400)
    body = assert_error_shape(client.post(url, {}, content_type="application/json"), 400,
                              "invalid")
    assert set(body["details"]) == {"authorization_code"}
