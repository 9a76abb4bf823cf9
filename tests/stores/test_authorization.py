"""Authorizing stores end to end against the marketplace sandbox (real HTTP, real signatures):
codes issued by the sandbox's seller center, expired and reused codes, re-authorization."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from sandbox.shops import ALIEXPRESS_SHOP_300, SHOPS, TEMU_SHOP_300, TEMU_SHOP_CA
from stores import services
from stores.models import Store, StoreStatusChange
from tenants.scope import tenant_scope
from tests.conftest import english_client as english
from tests.stores.conftest import reload

Status = Store.Status


def add(tenant, owner, site_code, code) -> Store:
    with tenant_scope(tenant):
        return services.add_store(tenant=tenant, site_code=site_code, authorization_code=code,
                                  by=owner)


def test_authorize_a_temu_store_with_a_sandbox_code(sandbox, tenant_a, owner_a):
    code = sandbox.state.issue_code(TEMU_SHOP_300)
    store = add(tenant_a, owner_a, "temu-us", f"  {code}\n")  # pasted with whitespace

    store = reload(store)
    shop = SHOPS[TEMU_SHOP_300]
    assert (store.shop_id, store.display_name, store.status) == (
        TEMU_SHOP_300, shop.name, Status.CONNECTED)
    issued = sandbox.state.tokens[store.access_token]  # the token the sandbox issued
    assert issued.shop_id == TEMU_SHOP_300
    assert abs((store.token_expires_at - issued.expires_at).total_seconds()) < 2
    assert store.token_scopes == list(issued.scopes)
    assert store.authorized_at is not None and store.created_by == owner_a
    change = StoreStatusChange.unscoped.get(store=store)
    assert change.to_status == Status.CONNECTED and change.changed_by == owner_a
    event = AuditEvent.unscoped.get(action=AuditEvent.Action.STORE_AUTHORIZED)
    assert (event.tenant, event.actor) == (tenant_a, owner_a) and shop.name in event.target


def test_authorize_an_aliexpress_store(sandbox, tenant_a, owner_a):
    store = add(tenant_a, owner_a, "aliexpress-fr",  # the shop's site
                sandbox.state.issue_code(ALIEXPRESS_SHOP_300))
    assert reload(store).shop_id == ALIEXPRESS_SHOP_300
    assert reload(store).status == Status.CONNECTED


def test_the_same_shop_twice_is_refused(sandbox, tenant_a, owner_a):
    first = add(tenant_a, owner_a, "temu-us", sandbox.state.issue_code(TEMU_SHOP_300))
    with pytest.raises(services.StoreError) as refused:
        add(tenant_a, owner_a, "temu-us", sandbox.state.issue_code(TEMU_SHOP_300))
    assert refused.value.code == "store_exists"
    assert "already connected" in str(refused.value) and first.display_name in str(refused.value)
    assert Store.unscoped.count() == 1


def test_an_expired_code_gets_the_remedy(sandbox, tenant_a, owner_a):
    code = sandbox.state.issue_code(TEMU_SHOP_300, valid_for=timedelta(seconds=-1))
    with pytest.raises(services.StoreError) as refused:
        add(tenant_a, owner_a, "temu-us", code)
    assert refused.value.code == "ERR_AUTH_CODE_INVALID"
    assert refused.value.field == "authorization_code"
    assert "wrong, expired or was already used" in refused.value.message
    assert "Generate a new authorization code" in refused.value.message
    assert not Store.unscoped.exists()


def test_a_reused_code_is_refused(sandbox, tenant_a, tenant_b, owner_a, owner_b):
    code = sandbox.state.issue_code(TEMU_SHOP_300)
    add(tenant_a, owner_a, "temu-us", code)
    with pytest.raises(services.StoreError) as refused:
        add(tenant_b, owner_b, "temu-us", code)
    assert refused.value.code == "ERR_AUTH_CODE_INVALID"
    assert Store.unscoped.filter(tenant=tenant_b).count() == 0


def test_reauthorize_replaces_the_token_in_place(sandbox, tenant_a, owner_a, settings):
    store = add(tenant_a, owner_a, "temu-us", sandbox.state.issue_code(TEMU_SHOP_300))
    old_token = reload(store).access_token
    sandbox.state.expire_tokens(TEMU_SHOP_300)
    Store.unscoped.filter(pk=store.pk).update(
        token_expires_at=timezone.now() - timedelta(minutes=1),
        expiry_warning_sent_at=timezone.now() - timedelta(hours=20))
    services.check_store_health()
    assert reload(store).status == Status.TOKEN_EXPIRED

    with tenant_scope(tenant_a):
        services.reauthorize_store(reload(store), by=owner_a,
                                   authorization_code=sandbox.state.issue_code(TEMU_SHOP_300))
    renewed = reload(store)
    assert renewed.pk == store.pk and Store.unscoped.count() == 1
    assert renewed.access_token != old_token
    assert not sandbox.state.tokens[renewed.access_token].expired
    assert renewed.status == Status.CONNECTED and renewed.last_error_code == ""
    assert renewed.expiry_warning_sent_at is None
    assert [c.to_status for c in StoreStatusChange.unscoped.filter(store=store)
            .order_by("id")] == ["connected", "token_expired", "connected"]
    assert AuditEvent.unscoped.filter(action=AuditEvent.Action.STORE_REAUTHORIZED).count() == 1


def test_reauthorize_with_another_shops_code_is_refused(sandbox, tenant_a, owner_a):
    store = add(tenant_a, owner_a, "temu-us", sandbox.state.issue_code(TEMU_SHOP_300))
    token = reload(store).access_token
    with tenant_scope(tenant_a), pytest.raises(services.StoreError) as refused:
        services.reauthorize_store(store, by=owner_a,
                                   authorization_code=sandbox.state.issue_code(TEMU_SHOP_CA))
    assert refused.value.code == "wrong_shop"
    assert reload(store).access_token == token


def test_a_revoked_store_comes_back_when_its_shop_is_added_again(sandbox, tenant_a, owner_a):
    store = add(tenant_a, owner_a, "temu-us", sandbox.state.issue_code(TEMU_SHOP_300))
    with tenant_scope(tenant_a):
        services.revoke_store(store, by=owner_a)
    assert reload(store).access_token == ""
    again = add(tenant_a, owner_a, "temu-us", sandbox.state.issue_code(TEMU_SHOP_300))
    assert again.pk == store.pk
    assert reload(store).status == Status.CONNECTED and reload(store).access_token


def test_the_token_works_with_the_connector(sandbox, tenant_a, owner_a):
    store = add(tenant_a, owner_a, "temu-us", sandbox.state.issue_code(TEMU_SHOP_300))
    info = services.connector_for_store(reload(store)).token_info()
    assert info.shop_id == TEMU_SHOP_300


# Through the pages ---------------------------------------------------------------------------

def test_add_a_store_through_the_page(sandbox, tenant_a, operator_a):
    client = english(operator_a, tenant_a)
    response = client.post(reverse("store_add"), {
        "site_code": "temu-us", "authorization_code": sandbox.state.issue_code(TEMU_SHOP_300)})
    store = Store.unscoped.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("store_detail", args=[store.pk])
    page = client.get(response["Location"]).content.decode()
    assert "is connected" in page and SHOPS[TEMU_SHOP_300].name in page
    assert store.access_token not in page


def test_the_page_shows_the_remedy_for_a_used_code(sandbox, tenant_a, owner_a):
    code = sandbox.state.issue_code(TEMU_SHOP_300)
    client = english(owner_a, tenant_a)
    client.post(reverse("store_add"), {"site_code": "temu-us", "authorization_code": code})
    page = client.post(reverse("store_add"), {"site_code": "temu-us",
                                              "authorization_code": code})
    assert page.status_code == 200
    text = page.content.decode()
    assert "wrong, expired or was already used" in text
    assert "Generate a new authorization code in the seller center" in text
    assert Store.unscoped.count() == 1


def test_reauthorize_through_the_page(sandbox, tenant_a, owner_a):
    store = add(tenant_a, owner_a, "temu-us", sandbox.state.issue_code(TEMU_SHOP_300))
    old = reload(store).access_token
    client = english(owner_a, tenant_a)
    url = reverse("store_reauthorize", args=[store.pk])
    bad = client.post(url, {"authorization_code": "not-a-code"})
    assert bad.status_code == 200 and "already used" in bad.content.decode()
    good = client.post(url, {"authorization_code": sandbox.state.issue_code(TEMU_SHOP_300)})
    assert good.status_code == 302
    assert reload(store).access_token != old
