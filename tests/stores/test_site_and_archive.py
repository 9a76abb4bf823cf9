"""A store's site is the one the marketplace says its shop is on; one store per shop; revoked
stores can be archived; one answer for a token's state (issue 12)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from audit.models import AuditEvent
from billing import services as billing
from catalog import selectors as catalog_selectors
from marketplaces.connectors import MarketplaceError
from sandbox.shops import ALIEXPRESS_SHOP_300, SHOPS, TEMU_SHOP_300, TEMU_SHOP_CA
from stores import selectors, services
from stores.models import Store
from tenants.roles import TenantRole
from tenants.scope import tenant_scope
from tests.conftest import client_for
from tests.conftest import english_client as english
from tests.portal.test_api import assert_error_shape
from tests.stores.conftest import make_store, reload
from tests.stores.test_api import api_client

Status = Store.Status
CANADA = SHOPS[TEMU_SHOP_CA]


def add(tenant, owner, site_code, code) -> Store:
    with tenant_scope(tenant):
        return services.add_store(tenant=tenant, site_code=site_code, authorization_code=code,
                                  by=owner)


def token_creations(sandbox) -> int:
    return sum(1 for r in sandbox.state.requests if r["api"] == "bg.open.accesstoken.create")


# The site check ------------------------------------------------------------------------------

def test_the_token_answers_name_the_shops_site(sandbox):
    from marketplaces.connectors import connector_for
    from marketplaces.sites import get_site

    for shop_id, site_code in ((TEMU_SHOP_CA, "temu-ca"), (ALIEXPRESS_SHOP_300, "aliexpress-fr")):
        site = get_site(site_code)
        grant = connector_for(site).create_token(sandbox.state.issue_code(shop_id))
        assert grant.site_code == site_code
        assert connector_for(site, grant.access_token).token_info().site_code == site_code


def test_a_canada_code_under_united_states_is_refused_with_the_site_to_choose(
        sandbox, tenant_a, owner_a):
    code = sandbox.state.issue_code(TEMU_SHOP_CA)
    with translation.override("en"), pytest.raises(services.StoreError) as refused:
        add(tenant_a, owner_a, "temu-us", code)
    assert refused.value.code == "wrong_site" and refused.value.field == "site_code"
    assert refused.value.message == (
        f"This code belongs to shop {TEMU_SHOP_CA} “{CANADA.name}” on Temu Canada, not Temu "
        "United States: choose Temu Canada as the site and submit the same code again.")
    assert not Store.unscoped.exists()

    # The code was spent at the marketplace; its token was kept, so the same code works.
    store = add(tenant_a, owner_a, "temu-ca", code)
    assert (reload(store).site_code, reload(store).shop_id) == ("temu-ca", TEMU_SHOP_CA)
    assert reload(store).access_token in sandbox.state.tokens
    assert token_creations(sandbox) == 1

    # ... and the shop cannot be added again, under either site.
    for site_code, reason in (("temu-us", "wrong_site"), ("temu-ca", "store_exists")):
        with pytest.raises(services.StoreError) as again:
            add(tenant_a, owner_a, site_code, sandbox.state.issue_code(TEMU_SHOP_CA))
        assert again.value.code == reason
    assert Store.unscoped.count() == 1


def test_a_kept_token_is_for_its_tenant_only(sandbox, tenant_a, owner_a, tenant_b, owner_b):
    code = sandbox.state.issue_code(TEMU_SHOP_CA)
    with pytest.raises(services.StoreError):
        add(tenant_a, owner_a, "temu-us", code)
    with pytest.raises(services.StoreError) as refused:
        add(tenant_b, owner_b, "temu-ca", code)
    assert refused.value.code == "ERR_AUTH_CODE_INVALID"  # the code itself is spent


def test_the_form_refuses_in_chinese_and_offers_the_right_site(sandbox, tenant_a, owner_a):
    code = sandbox.state.issue_code(TEMU_SHOP_CA)
    page = client_for(owner_a, tenant_a).post(reverse("store_add"), {
        "site_code": "temu-us", "authorization_code": code})  # Chinese is the default
    text = page.content.decode()
    assert page.status_code == 200 and not Store.unscoped.exists()
    assert f"此授权码属于 Temu 加拿大 上的店铺 {TEMU_SHOP_CA}" in text
    assert 'value="temu-ca" selected' in text  # the site the marketplace named, chosen
    again = client_for(owner_a, tenant_a).post(reverse("store_add"), {
        "site_code": "temu-ca", "authorization_code": code})
    assert again.status_code == 302 and Store.unscoped.get().site_code == "temu-ca"


def test_the_api_refuses_with_the_site_to_choose(sandbox, tenant_a, owner_a):
    client = api_client(tenant_a, owner_a)
    body = assert_error_shape(client.post("/api/v1/stores/", {
        "site_code": "temu-us", "authorization_code": sandbox.state.issue_code(TEMU_SHOP_CA),
    }, content_type="application/json"), 400, "wrong_site")
    assert "choose Temu Canada" in body["details"]["site_code"][0]
    assert body["details"]["marketplace_site_code"] == ["temu-ca"]
    assert not Store.unscoped.exists()


def test_a_shop_added_under_the_wrong_site_before_blocks_a_second_store(
        sandbox, tenant_a, owner_a):
    wrong = make_store(tenant_a, owner_a, site_code="temu-us", shop_id=TEMU_SHOP_CA)
    with pytest.raises(services.StoreError) as refused:
        add(tenant_a, owner_a, "temu-ca", sandbox.state.issue_code(TEMU_SHOP_CA))
    assert refused.value.code == "store_exists" and "not its site" in refused.value.message
    with tenant_scope(tenant_a), pytest.raises(services.StoreError) as reauthorized:
        services.reauthorize_store(wrong, by=owner_a,
                                   authorization_code=sandbox.state.issue_code(TEMU_SHOP_CA))
    assert reauthorized.value.code == "wrong_site"
    assert Store.unscoped.count() == 1


def test_the_database_allows_one_store_per_shop_and_marketplace(tenant_a, owner_a):
    from django.db import IntegrityError, transaction

    make_store(tenant_a, owner_a, site_code="temu-us", shop_id="S-1")
    make_store(tenant_a, owner_a, site_code="aliexpress-es", shop_id="S-1")  # other marketplace
    with pytest.raises(IntegrityError), transaction.atomic():
        make_store(tenant_a, owner_a, site_code="temu-ca", shop_id="S-1")


# Archiving -----------------------------------------------------------------------------------

@pytest.fixture
def revoked(sandbox, tenant_a, owner_a) -> Store:
    store = add(tenant_a, owner_a, "temu-us", sandbox.state.issue_code(TEMU_SHOP_300))
    with tenant_scope(tenant_a):
        services.revoke_store(store, by=owner_a)
    return reload(store)


def test_an_owner_archives_a_revoked_store_and_it_leaves_every_list(
        revoked, tenant_a, owner_a):
    other = make_store(tenant_a, owner_a, display_name="Still here", shop_id="S-2")
    client = english(owner_a, tenant_a)
    with tenant_scope(tenant_a):
        assert revoked in catalog_selectors.stores()
    response = client.post(reverse("store_archive", args=[revoked.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("stores")
    assert "is archived" in client.get(response["Location"]).content.decode()  # the message

    archived = reload(revoked)
    assert archived.archived_at is not None and archived.archived_by == owner_a
    event = AuditEvent.unscoped.get(action=AuditEvent.Action.STORE_ARCHIVED)
    assert (event.actor, event.details["shop_id"]) == (owner_a, TEMU_SHOP_300)
    with tenant_scope(tenant_a):
        assert list(catalog_selectors.stores()) == [other]
        assert [o.store for o in selectors.store_overviews()] == [other]
    for url in (reverse("stores"), reverse("job_new"), reverse("catalog"), reverse("jobs")):
        page = client.get(url).content.decode()
        assert "Still here" in page and revoked.display_name not in page, url
    listed = api_client(tenant_a, owner_a).get("/api/v1/stores/").json()
    assert [row["id"] for row in listed["results"]] == [other.pk]
    # Kept: the stores page's own archived view, its page and the API's detail show it.
    assert "1 archived store" in client.get(reverse("stores")).content.decode()
    archive_view = client.get(reverse("stores"), {"archived": "1"}).content.decode()
    assert revoked.display_name in archive_view and "Still here" not in archive_view
    assert "Archived" in client.get(reverse("store_detail", args=[revoked.pk])).content.decode()
    assert api_client(tenant_a, owner_a).get(
        f"/api/v1/stores/{revoked.pk}/").json()["is_archived"] is True


def test_adding_the_shop_again_brings_the_archived_store_back(revoked, sandbox, tenant_a,
                                                              owner_a):
    with tenant_scope(tenant_a):
        services.archive_store(revoked, by=owner_a)
    again = add(tenant_a, owner_a, "temu-us", sandbox.state.issue_code(TEMU_SHOP_300))
    assert again.pk == revoked.pk
    assert reload(again).archived_at is None and reload(again).status == Status.CONNECTED


def test_only_an_owner_archives_only_a_revoked_store_without_a_subscription(
        revoked, sandbox, tenant_a, owner_a):
    operator = __import__("tests.conftest", fromlist=["add_member"]).add_member(
        tenant_a, TenantRole.OPERATOR)
    assert english(operator, tenant_a).post(
        reverse("store_archive", args=[revoked.pk])).status_code == 403
    assert api_client(tenant_a, operator).post(
        f"/api/v1/stores/{revoked.pk}/archive/").status_code == 403

    connected = make_store(tenant_a, owner_a, shop_id="S-9")
    with tenant_scope(tenant_a), pytest.raises(services.StoreError) as refused:
        services.archive_store(connected, by=owner_a)
    assert refused.value.code == "store_not_revoked"

    pack = billing.create_pack(code="standard", name="Standard", terms=billing.STANDARD_TERMS,
                               by=None)
    billing.subscribe_store(revoked, pack, by=None)
    body = assert_error_shape(api_client(tenant_a, owner_a, TenantRole.OWNER).post(
        f"/api/v1/stores/{revoked.pk}/archive/"), 400, "store_subscribed")
    assert "cancel" in body["message"] or "cancel" in str(body["details"])
    assert reload(revoked).archived_at is None


# One source of truth for the token -----------------------------------------------------------

def test_the_marketplaces_token_expired_is_what_the_token_column_says(
        tenant_a, owner_a):
    store = make_store(tenant_a, owner_a,
                       token_expires_at=timezone.now() + timedelta(days=80))
    with tenant_scope(tenant_a):
        services.apply_marketplace_error(store, MarketplaceError("ERR_TOKEN_EXPIRED",
                                                                 "access_token has expired"))
    store = reload(store)
    token = selectors.token_validity(store)
    assert store.status == Status.TOKEN_EXPIRED and token.expired and token.state == "expired"
    assert store.token_expires_at <= timezone.now()
    page = english(owner_a, tenant_a).get(reverse("stores")).content.decode()
    assert "left" not in page.split("<tbody>")[1].split("</tbody>")[0]
    body = api_client(tenant_a, owner_a).get(f"/api/v1/stores/{store.pk}/").json()
    assert (body["status"], body["token_state"]) == ("token_expired", "expired")


def test_a_token_whose_time_ran_out_shows_expired_before_the_hourly_check(tenant_a, owner_a):
    store = make_store(tenant_a, owner_a,
                       token_expires_at=timezone.now() - timedelta(minutes=5))
    assert store.status == Status.CONNECTED  # the health check has not run yet
    body = api_client(tenant_a, owner_a).get(f"/api/v1/stores/{store.pk}/").json()
    assert (body["status"], body["token_state"]) == ("token_expired", "expired")
    page = english(owner_a, tenant_a).get(reverse("store_detail", args=[store.pk]))
    assert 'data-status="token_expired"' in page.content.decode()
