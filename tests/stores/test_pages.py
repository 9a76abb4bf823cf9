"""The stores pages: list with health, token validity, budget and errors; add; detail; and who
may do what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from marketplaces import limits
from marketplaces.connectors import MarketplaceError
from stores import services
from stores.models import Store
from tenants.models import Tenant
from tenants.scope import tenant_scope
from tests.conftest import client_for
from tests.conftest import english_client as english
from tests.stores.conftest import TOKEN, make_store, reload

Status = Store.Status


@pytest.fixture
def fresh_budgets():
    limits.clear_all()
    yield
    limits.clear_all()


def test_list_shows_health_token_sync_budget_and_error(tenant_a, owner_a, settings,
                                                      fresh_budgets):
    now = timezone.now()
    healthy = make_store(tenant_a, owner_a, display_name="Healthy Shop", shop_id="H-1",
                         status=Status.HEALTHY, last_synced_at=now - timedelta(hours=1),
                         token_expires_at=now + timedelta(days=40))
    expiring = make_store(tenant_a, owner_a, display_name="Expiring Shop", shop_id="E-1",
                          token_expires_at=now + timedelta(hours=10))
    denied = make_store(tenant_a, owner_a, display_name="Denied Shop", shop_id="D-1")
    with tenant_scope(tenant_a):
        services.apply_marketplace_error(denied, MarketplaceError("ERR_TEMU_403", "no scope"))
    for _ in range(7):
        limits.spend_daily_request(healthy.budget_key, tenant_a.zone)

    page = english(owner_a, tenant_a).get(reverse("stores"))
    text = page.content.decode()
    assert page.status_code == 200
    assert 'store-status-ok" data-status="healthy">Connected &amp; Syncing' in text
    assert 'store-status-danger" data-status="permission_denied">Permission denied' in text
    assert "Expires in" in text and "re-authorize now" in text  # only the expiring one
    assert text.count("token-expiring") == 1
    assert "1\xa0month" in text or "1 month" in text  # the healthy token's validity
    assert f"{settings.MARKETPLACE_DAILY_REQUEST_BUDGET - 7} of " \
           f"{settings.MARKETPLACE_DAILY_REQUEST_BUDGET}" in text
    assert "ERR_TEMU_403" in text and "no scope" in text
    assert "does not allow this call" in text  # the meaning from the error catalogue
    assert "Re-authorize the store in the seller center" in text  # and its remedy
    assert TOKEN not in text
    assert str(expiring) in text  # in the attention banner
    for ip in settings.ISV_EGRESS_IPS:
        assert ip in text


def test_list_offers_adding_only_to_those_who_may(tenant_a, owner_a, viewer_a):
    add_url = reverse("store_add")
    assert add_url in client_for(owner_a, tenant_a).get(reverse("stores")).content.decode()
    assert add_url not in client_for(viewer_a, tenant_a).get(reverse("stores")).content.decode()


def test_add_page_explains_the_code_and_groups_sites(tenant_a, owner_a, settings):
    settings.ISV_EGRESS_IPS = ["198.51.100.7", "198.51.100.8"]
    text = english(owner_a, tenant_a).get(reverse("store_add")).content.decode()
    assert '<optgroup label="Temu">' in text and '<optgroup label="AliExpress">' in text
    assert '<option value="temu-ca">Temu Canada</option>' in text
    assert '<option value="aliexpress-mx">AliExpress Mexico</option>' in text
    assert "valid for 7 days" in text
    assert "198.51.100.7" in text and "198.51.100.8" in text


def test_detail_shows_history_and_hides_the_token(store_a, owner_a, settings):
    with tenant_scope(store_a.tenant):
        services.mark_syncing(store_a)
        services.apply_marketplace_error(store_a, MarketplaceError("ERR_IP_NOT_WHITELISTED",
                                                                   "ip 203.0.113.10 refused"))
    text = english(owner_a, store_a.tenant).get(
        reverse("store_detail", args=[store_a.pk])).content.decode()
    assert "Status history" in text
    assert "IP not whitelisted" in text and "ERR_IP_NOT_WHITELISTED" in text
    assert "Add the ISV egress IPs" in text
    assert reverse("store_reauthorize", args=[store_a.pk]) in text
    assert reverse("store_revoke", args=[store_a.pk]) in text
    assert TOKEN not in text
    for ip in settings.ISV_EGRESS_IPS:
        assert ip in text


def test_detail_for_a_viewer_has_no_forms(store_a, viewer_a):
    text = client_for(viewer_a, store_a.tenant).get(
        reverse("store_detail", args=[store_a.pk])).content.decode()
    assert reverse("store_reauthorize", args=[store_a.pk]) not in text
    assert reverse("store_revoke", args=[store_a.pk]) not in text


def test_revoke_from_the_page(store_a, operator_a):
    response = client_for(operator_a, store_a.tenant).post(
        reverse("store_revoke", args=[store_a.pk]))
    assert response.status_code == 302
    store = reload(store_a)
    assert store.status == Status.REVOKED and store.access_token == ""


@pytest.mark.parametrize("role_fixture", ["viewer_a", "reviewer_a"])
def test_viewers_and_reviewers_cannot_change_stores(request, role_fixture, store_a):
    user = request.getfixturevalue(role_fixture)
    client = client_for(user, store_a.tenant)
    assert client.get(reverse("store_add")).status_code == 403
    assert client.post(reverse("store_add"), {"site_code": "temu-us",
                                              "authorization_code": "x"}).status_code == 403
    assert client.post(reverse("store_reauthorize", args=[store_a.pk]),
                       {"authorization_code": "x"}).status_code == 403
    assert client.post(reverse("store_revoke", args=[store_a.pk])).status_code == 403
    assert reload(store_a).status == Status.CONNECTED
    assert client.get(reverse("stores")).status_code == 200  # reading is fine


def test_a_suspended_tenant_cannot_change_stores(store_a, owner_a, tenant_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(status=Tenant.Status.SUSPENDED)
    client = client_for(owner_a, tenant_a)
    assert client.get(reverse("store_add")).status_code == 403
    assert client.post(reverse("store_revoke", args=[store_a.pk])).status_code == 403
    assert client.get(reverse("store_detail", args=[store_a.pk])).status_code == 200
    assert reload(store_a).status == Status.CONNECTED
    # The service refuses too, whoever calls it.
    tenant_a.refresh_from_db()
    with tenant_scope(tenant_a), pytest.raises(services.StoreError) as refused:
        services.revoke_store(Store.objects.get(pk=store_a.pk), by=owner_a)
    assert refused.value.code == "tenant_not_active"


def test_another_tenants_store_is_not_found(store_a, tenant_b, owner_b):
    client = client_for(owner_b, tenant_b)
    assert client.get(reverse("store_detail", args=[store_a.pk])).status_code == 404
    assert client.post(reverse("store_revoke", args=[store_a.pk])).status_code == 404
    assert client.post(reverse("store_reauthorize", args=[store_a.pk]),
                       {"authorization_code": "x"}).status_code == 404
    assert reload(store_a).status == Status.CONNECTED
    assert "Alpha Temu Shop" not in client.get(reverse("stores")).content.decode()
