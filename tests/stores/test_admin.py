"""The stores in the Django admin: every tenant's, for ISV staff, never with the token."""

from __future__ import annotations

from django.urls import reverse

from stores import services
from stores.models import Store
from tenants.roles import StaffRole
from tenants.scope import tenant_scope
from tests.conftest import client_for, create_staff
from tests.stores.conftest import TOKEN, make_store


def test_staff_see_every_tenants_stores_without_tokens(platform_admin, tenant_a, owner_a,
                                                       tenant_b, owner_b):
    mine = make_store(tenant_a, owner_a, display_name="Alpha Admin Shop")
    make_store(tenant_b, owner_b, display_name="Beta Admin Shop", access_token="beta-secret")
    with tenant_scope(tenant_a):
        services.set_status(mine, Store.Status.HEALTHY, note="synced")
    client = client_for(platform_admin)
    listing = client.get(reverse("admin:stores_store_changelist")).content.decode()
    assert "Alpha Admin Shop" in listing and "Beta Admin Shop" in listing
    change = client.get(reverse("admin:stores_store_change", args=[mine.pk]))
    assert change.status_code == 200
    text = change.content.decode()
    assert "Alpha Admin Shop" in text and "synced" in text  # the status history inline
    assert TOKEN not in text and "beta-secret" not in listing and "access_token" not in text


def test_stores_are_not_added_in_the_admin(platform_admin):
    assert client_for(platform_admin).get(reverse("admin:stores_store_add")).status_code == 403


def test_support_only_looks(tenant_a, owner_a):
    store = make_store(tenant_a, owner_a)
    support = client_for(create_staff(StaffRole.SUPPORT))
    url = reverse("admin:stores_store_change", args=[store.pk])
    assert support.get(url).status_code == 200
    response = support.post(url, {"display_name": "Renamed"})
    assert response.status_code == 403
    assert Store.unscoped.get(pk=store.pk).display_name == store.display_name


def test_sellers_are_kept_out(owner_a, tenant_a):
    store = make_store(tenant_a, owner_a)
    response = client_for(owner_a, tenant_a).get(
        reverse("admin:stores_store_change", args=[store.pk]))
    assert response.status_code in (302, 403)
