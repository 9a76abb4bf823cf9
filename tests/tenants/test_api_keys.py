"""Per-tenant API keys (tenants/api_keys.py): creation, authentication, scoping, revocation,
and the owner's portal page."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from tenants import api_keys, services
from tenants.models import ApiKey, Membership, Tenant
from tenants.roles import KeyScope, TenantRole
from tenants.scope import TenantScopeError, tenant_scope
from tests.conftest import add_member, client_for, english_client

KEY_FORMAT = re.compile(r"^lk_(?P<prefix>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{40,})$")
ERROR_KEYS = {"code", "message", "details"}


def _create_key(tenant: Tenant, user, role: str = TenantRole.OPERATOR,
                name: str = "ERP production") -> api_keys.NewApiKey:
    with tenant_scope(tenant):
        return api_keys.create_api_key(created_by=user, name=name, role=role)


def _api(raw_key: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Api-Key {raw_key}", HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def key_a(tenant_a, owner_a) -> api_keys.NewApiKey:
    return _create_key(tenant_a, owner_a)


# Creation ---------------------------------------------------------------------------------

def test_created_key_is_shown_once_and_only_its_hash_is_stored(tenant_a, owner_a, key_a):
    match = KEY_FORMAT.match(key_a.raw_key)
    assert match, key_a.raw_key
    stored = ApiKey.unscoped.get(pk=key_a.api_key.pk)
    assert stored.tenant == tenant_a
    assert stored.prefix == match["prefix"]
    assert stored.key_hash == hashlib.sha256(key_a.raw_key.encode()).hexdigest()
    # The secret part is nowhere in the row.
    for field in stored._meta.concrete_fields:
        value = str(field.value_from_object(stored))
        assert match["secret"] not in value, field.name
    assert not hasattr(stored, "raw_key")
    event = AuditEvent.unscoped.get(tenant=tenant_a)
    assert (event.action, event.actor, event.target) == (
        AuditEvent.Action.API_KEY_CREATED, owner_a, "ERP production")


def test_every_key_is_different(tenant_a, owner_a):
    keys = {_create_key(tenant_a, owner_a, name=f"k{i}").raw_key for i in range(5)}
    assert len(keys) == 5
    assert len({ApiKey.unscoped.get(prefix=KEY_FORMAT.match(k)["prefix"]).key_hash
                for k in keys}) == 5


def test_creating_a_key_needs_a_tenant_in_scope(owner_a):
    with pytest.raises(TenantScopeError):
        api_keys.create_api_key(created_by=owner_a, name="nowhere")


# Authentication ---------------------------------------------------------------------------

def test_me_returns_the_keys_tenant_and_role(tenant_a, owner_a, key_a):
    response = _api(key_a.raw_key).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json() == {
        "email": owner_a.email,
        "tenant": tenant_a.name,
        "tenant_slug": tenant_a.slug,
        "tenant_status": "active",
        "role": "operator",
        "permissions": ["view", "start_work", "publish"],
        "api_key": {"name": "ERP production", "role": "operator", "scopes": [],
                    "expires_at": None},
    }


def test_the_key_decides_the_tenant_not_the_session(tenant_a, tenant_b, owner_a, owner_b):
    key_b = _create_key(tenant_b, owner_b, role=TenantRole.VIEWER)
    client = client_for(owner_a, tenant_a)  # signed in to tenant A...
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Api-Key {key_b.raw_key}")
    assert response.status_code == 200  # ...but the key is tenant B's
    assert response.json()["tenant_slug"] == tenant_b.slug
    assert response.json()["role"] == "viewer"


def test_a_suspended_tenants_key_may_only_read(tenant_a, owner_a, key_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(status=Tenant.Status.SUSPENDED)
    body = _api(key_a.raw_key).get("/api/v1/me/").json()
    assert body["tenant_status"] == "suspended"
    assert body["permissions"] == ["view"]


def test_using_a_key_updates_last_used_at(key_a):
    assert ApiKey.unscoped.get(pk=key_a.api_key.pk).last_used_at is None
    before = timezone.now()
    assert _api(key_a.raw_key).get("/api/v1/me/").status_code == 200
    last_used = ApiKey.unscoped.get(pk=key_a.api_key.pk).last_used_at
    assert last_used is not None
    assert before <= last_used <= timezone.now()


def test_the_scheme_is_case_insensitive(key_a):
    client = Client(HTTP_AUTHORIZATION=f"api-key {key_a.raw_key}")
    assert client.get("/api/v1/me/").status_code == 200


def _assert_401(response) -> None:
    assert response.status_code == 401
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["code"] == "authentication_failed"
    assert "API key" in body["message"]
    assert body["details"] == {}
    assert response["WWW-Authenticate"] == "Api-Key"


def test_a_revoked_key_gets_401(tenant_a, owner_a, key_a):
    with tenant_scope(tenant_a):
        api_keys.revoke_api_key(key_a.api_key, by=owner_a)
    stored = ApiKey.unscoped.get(pk=key_a.api_key.pk)
    assert stored.revoked_at is not None
    assert not stored.is_active
    _assert_401(_api(key_a.raw_key).get("/api/v1/me/"))
    _assert_401(_api(key_a.raw_key).get("/api/v1/members/"))
    assert ApiKey.unscoped.get(pk=key_a.api_key.pk).last_used_at is None
    assert AuditEvent.unscoped.filter(action=AuditEvent.Action.API_KEY_REVOKED).count() == 1


def test_revoking_twice_keeps_the_first_date_and_one_event(tenant_a, owner_a, key_a):
    with tenant_scope(tenant_a):
        api_keys.revoke_api_key(key_a.api_key, by=owner_a)
        first = ApiKey.objects.get(pk=key_a.api_key.pk).revoked_at
        api_keys.revoke_api_key(ApiKey.objects.get(pk=key_a.api_key.pk), by=owner_a)
        assert ApiKey.objects.get(pk=key_a.api_key.pk).revoked_at == first
    assert AuditEvent.unscoped.filter(action=AuditEvent.Action.API_KEY_REVOKED).count() == 1


@pytest.mark.parametrize("made_up", [
    "lk_0123456789ab_" + "x" * 43,  # well-formed, unknown prefix
    "nonsense",
    "lk_",
    "",
])
def test_a_made_up_key_gets_401(db, made_up):
    _assert_401(_api(made_up).get("/api/v1/me/"))


def test_the_right_prefix_with_a_wrong_secret_gets_401(key_a):
    prefix = KEY_FORMAT.match(key_a.raw_key)["prefix"]
    _assert_401(_api(f"lk_{prefix}_{'A' * 43}").get("/api/v1/me/"))
    assert ApiKey.unscoped.get(pk=key_a.api_key.pk).last_used_at is None


def test_a_key_stops_working_when_its_creator_is_deactivated(owner_a, key_a):
    owner_a.is_active = False
    owner_a.save()
    _assert_401(_api(key_a.raw_key).get("/api/v1/me/"))


def test_no_credentials_get_401_in_the_error_shape(db):
    response = Client().get("/api/v1/me/")
    assert response.status_code == 401
    assert set(response.json()) == ERROR_KEYS
    assert response.json()["code"] == "not_authenticated"


# Tenant isolation through the API -----------------------------------------------------------

def test_a_key_lists_only_its_own_tenants_members(tenant_a, tenant_b, owner_a, owner_b, key_a):
    viewer_a = add_member(tenant_a, TenantRole.VIEWER)
    add_member(tenant_b, TenantRole.OPERATOR)
    response = _api(key_a.raw_key).get("/api/v1/members/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert {m["email"] for m in body["results"]} == {owner_a.email, viewer_a.email}
    assert {m["role"] for m in body["results"]} == {"owner", "viewer"}


def test_a_key_gets_404_for_another_tenants_member(tenant_a, tenant_b, owner_a, owner_b,
                                                   key_a):
    mine = Membership.unscoped.get(user=owner_a)
    theirs = Membership.unscoped.get(user=owner_b)
    client = _api(key_a.raw_key)
    assert client.get(f"/api/v1/members/{mine.pk}/").json()["email"] == owner_a.email
    response = client.get(f"/api/v1/members/{theirs.pk}/")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["code"] == "not_found"
    assert owner_b.email not in response.content.decode()


def test_the_members_api_is_read_only(key_a, owner_a):
    mine = Membership.unscoped.get(user=owner_a)
    client = _api(key_a.raw_key)
    assert client.delete(f"/api/v1/members/{mine.pk}/").status_code == 405
    assert client.post("/api/v1/members/", {"role": "owner"}).status_code == 405
    assert Membership.unscoped.filter(pk=mine.pk).exists()


# The portal page (owners only) --------------------------------------------------------------

def test_owner_creates_a_key_in_the_portal_and_sees_it_once(tenant_a, owner_a):
    client = client_for(owner_a, tenant_a)
    response = client.post("/portal/api-keys/", {"name": "Warehouse ERP",
                                                 "role": TenantRole.VIEWER})
    assert response.status_code == 200
    new_key = response.context["new_key"]
    raw_key = new_key.raw_key
    assert raw_key in response.content.decode()
    stored = ApiKey.unscoped.get(tenant=tenant_a)
    assert (stored.name, stored.role, stored.created_by) == ("Warehouse ERP", "viewer", owner_a)
    assert stored.key_hash == hashlib.sha256(raw_key.encode()).hexdigest()

    # Shown once: the list page never shows it again, only its prefix.
    page = client.get("/portal/api-keys/").content.decode()
    assert raw_key not in page
    assert f"lk_{stored.prefix}_" in page
    # And the key works.
    assert _api(raw_key).get("/api/v1/me/").json()["role"] == "viewer"


def test_owner_revokes_a_key_in_the_portal(tenant_a, owner_a, key_a):
    client = client_for(owner_a, tenant_a)
    response = client.post(f"/portal/api-keys/{key_a.api_key.pk}/revoke/")
    assert response.status_code == 302
    assert response["Location"] == "/portal/api-keys/"
    assert ApiKey.unscoped.get(pk=key_a.api_key.pk).revoked_at is not None
    _assert_401(_api(key_a.raw_key).get("/api/v1/me/"))


def test_the_revoke_button_needs_post(tenant_a, owner_a, key_a):
    client = client_for(owner_a, tenant_a)
    assert client.get(f"/portal/api-keys/{key_a.api_key.pk}/revoke/").status_code == 405
    assert ApiKey.unscoped.get(pk=key_a.api_key.pk).revoked_at is None


def test_an_owner_cannot_revoke_another_tenants_key(tenant_a, tenant_b, owner_a, owner_b):
    key_b = _create_key(tenant_b, owner_b, name="Beta Gadgets ERP")
    client = client_for(owner_a, tenant_a)
    assert client.post(f"/portal/api-keys/{key_b.api_key.pk}/revoke/").status_code == 404
    assert ApiKey.unscoped.get(pk=key_b.api_key.pk).revoked_at is None
    # Nor even see it listed.
    page = client.get("/portal/api-keys/").content.decode()
    assert "Beta Gadgets ERP" not in page
    assert key_b.api_key.prefix not in page


@pytest.mark.parametrize("role", [TenantRole.OPERATOR, TenantRole.REVIEWER, TenantRole.VIEWER])
def test_non_owners_cannot_create_or_revoke_keys(tenant_a, owner_a, key_a, role):
    client = client_for(add_member(tenant_a, role), tenant_a)
    assert client.post("/portal/api-keys/", {"name": "sneaky",
                                             "role": TenantRole.OWNER}).status_code == 403
    assert client.post(f"/portal/api-keys/{key_a.api_key.pk}/revoke/").status_code == 403
    assert list(ApiKey.unscoped.values_list("name", flat=True)) == ["ERP production"]
    assert ApiKey.unscoped.get().revoked_at is None


def test_a_key_cannot_reach_the_portal_pages_as_an_owner(tenant_a, owner_a):
    # An owner-role key authenticates programs to the API; portal pages need a person.
    raw_key = _create_key(tenant_a, owner_a, role=TenantRole.OWNER).raw_key
    response = Client(HTTP_AUTHORIZATION=f"Api-Key {raw_key}").get("/portal/api-keys/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# A key follows its creator's membership ------------------------------------------------------

def test_a_key_acts_with_at_most_its_creators_current_role(tenant_a, owner_a):
    second_owner = add_member(tenant_a, TenantRole.OWNER)
    key = _create_key(tenant_a, owner_a, role=TenantRole.OWNER)
    client = _api(key.raw_key)
    assert client.get("/api/v1/me/").json()["role"] == "owner"
    with tenant_scope(tenant_a):
        membership = Membership.objects.get(user=owner_a)
        services.change_role(membership, role=TenantRole.REVIEWER, by=second_owner)
    me = client.get("/api/v1/me/").json()
    assert (me["role"], me["permissions"]) == ("reviewer", ["view", "review", "publish"])
    assert me["api_key"]["role"] == "owner"  # its own role is kept, and capped
    refused = client.post("/api/v1/sync-runs/", {"store": 1}, content_type="application/json")
    assert refused.status_code == 403
    event = AuditEvent.unscoped.get(action=AuditEvent.Action.API_KEY_ACCESS_CHANGED)
    assert (event.actor, event.target) == (second_owner, "ERP production")
    assert event.details == {"reason": "creator_role_changed", "key_role": "owner",
                             "from": "owner", "to": "reviewer", "member": owner_a.email}


def test_operator_key_of_a_member_made_reviewer_acts_as_viewer(tenant_a, owner_a):
    operator = add_member(tenant_a, TenantRole.OPERATOR)
    key = _create_key(tenant_a, operator, role=TenantRole.OPERATOR)
    with tenant_scope(tenant_a):
        services.change_role(Membership.objects.get(user=operator), role=TenantRole.REVIEWER,
                             by=owner_a)
    assert _api(key.raw_key).get("/api/v1/me/").json()["permissions"] == ["view"]


def test_a_role_change_that_leaves_the_key_as_it_was_records_nothing_for_it(tenant_a, owner_a):
    operator = add_member(tenant_a, TenantRole.OPERATOR)
    _create_key(tenant_a, operator, role=TenantRole.VIEWER)
    with tenant_scope(tenant_a):
        services.change_role(Membership.objects.get(user=operator), role=TenantRole.REVIEWER,
                             by=owner_a)
    assert not AuditEvent.unscoped.filter(
        action=AuditEvent.Action.API_KEY_ACCESS_CHANGED).exists()


def test_removing_the_creator_revokes_their_keys_with_an_audit_event(tenant_a, owner_a):
    operator = add_member(tenant_a, TenantRole.OPERATOR)
    key = _create_key(tenant_a, operator, name="Operator ERP")
    assert _api(key.raw_key).get("/api/v1/me/").status_code == 200
    with tenant_scope(tenant_a):
        services.remove_member(Membership.objects.get(user=operator), by=owner_a)
    _assert_401(_api(key.raw_key).get("/api/v1/me/"))
    assert ApiKey.unscoped.get(pk=key.api_key.pk).revoked_at is not None
    event = AuditEvent.unscoped.get(action=AuditEvent.Action.API_KEY_REVOKED)
    assert (event.actor, event.target, event.details) == (
        owner_a, "Operator ERP", {"reason": "creator_removed"})


def test_a_key_stops_when_its_creator_leaves_by_any_way(tenant_a, owner_a, key_a):
    """Not only through remove_member (the admin, a cascade): the look-up checks it."""
    Membership.unscoped.filter(user=owner_a).delete()
    _assert_401(_api(key_a.raw_key).get("/api/v1/me/"))


def test_a_creator_in_another_company_does_not_keep_the_key_alive(tenant_a, tenant_b,
                                                                    owner_a, key_a):
    Membership.unscoped.create(tenant=tenant_b, user=owner_a, role=TenantRole.OWNER)
    Membership.unscoped.filter(user=owner_a, tenant=tenant_a).delete()
    _assert_401(_api(key_a.raw_key).get("/api/v1/me/"))


# Scopes and expiry --------------------------------------------------------------------------

def _scoped_key(tenant, user, scopes, **fields):
    with tenant_scope(tenant):
        return api_keys.create_api_key(created_by=user, name="scoped", role=TenantRole.OWNER,
                                       scopes=scopes, **fields)


def test_a_read_only_key_reads_and_changes_nothing(tenant_a, owner_a):
    client = _api(_scoped_key(tenant_a, owner_a, [KeyScope.READ_ONLY]).raw_key)
    assert client.get("/api/v1/members/").status_code == 200
    assert client.get("/api/v1/me/").json()["api_key"]["scopes"] == ["read_only"]
    for path in ("/api/v1/sync-runs/", "/api/v1/jobs/", "/api/v1/reviews/bulk-approve/",
                 "/api/v1/reviews/publish/", "/api/v1/stores/"):
        response = client.post(path, {}, content_type="application/json")
        assert response.status_code == 403, path
        assert response.json()["code"] == "api_key_scope", path
    settings_change = client.put("/api/v1/review-settings/", {"require_four_eyes": True},
                                 content_type="application/json")
    assert settings_change.status_code == 403
    assert "without scopes" in settings_change.json()["message"]
    # An estimate only reads.
    estimate = client.post("/api/v1/jobs/estimate/", {}, content_type="application/json")
    assert estimate.status_code == 400


def test_each_scope_opens_its_own_actions_only(tenant_a, owner_a):
    jobs = _api(_scoped_key(tenant_a, owner_a, [KeyScope.JOBS]).raw_key)
    review = _api(_scoped_key(tenant_a, owner_a, [KeyScope.REVIEW, KeyScope.PUBLISH]).raw_key)

    def status(client, path):
        return client.post(path, {}, content_type="application/json").status_code

    assert status(jobs, "/api/v1/sync-runs/") == 400  # allowed: the empty body is invalid
    assert status(jobs, "/api/v1/jobs/") == 400
    assert status(jobs, "/api/v1/reviews/bulk-approve/") == 403
    assert status(review, "/api/v1/reviews/bulk-approve/") == 400
    assert status(review, "/api/v1/reviews/publish/") == 400
    assert status(review, "/api/v1/jobs/") == 403
    message = jobs.post("/api/v1/reviews/publish/", {}, content_type="application/json",
                        HTTP_ACCEPT_LANGUAGE="en").json()["message"]
    assert "Publishing" in message


def test_an_expired_key_gets_401(tenant_a, owner_a):
    key = _scoped_key(tenant_a, owner_a, [], expires_at=timezone.now() + timedelta(hours=1))
    assert _api(key.raw_key).get("/api/v1/me/").status_code == 200
    ApiKey.unscoped.filter(pk=key.api_key.pk).update(expires_at=timezone.now())
    _assert_401(_api(key.raw_key).get("/api/v1/me/"))


def test_owner_creates_a_scoped_key_with_an_expiry_and_the_list_shows_both(tenant_a, owner_a):
    client = english_client(owner_a, tenant_a)
    last_day = timezone.localdate() + timedelta(days=30)
    response = client.post("/portal/api-keys/", {
        "name": "Review robot", "role": TenantRole.REVIEWER,
        "scopes": [KeyScope.REVIEW, KeyScope.PUBLISH], "expires_on": last_day.isoformat()})
    assert response.status_code == 200
    stored = ApiKey.unscoped.get(tenant=tenant_a)
    assert stored.scopes == ["review", "publish"]
    assert timezone.localtime(stored.expires_at).date() == last_day + timedelta(days=1)
    page = client.get("/portal/api-keys/").content.decode()
    assert "Review decisions" in page and "Publishing" in page
    assert timezone.localtime(stored.expires_at).strftime("%Y-%m-%d %H:%M") in page
    chinese = client_for(owner_a, tenant_a).get("/portal/api-keys/").content.decode()
    assert "审核决定" in chinese and "有效期至" in chinese


@pytest.mark.parametrize(("fields", "field"), [
    ({"expires_on": "2000-01-01"}, "expires_on"),
    ({"expires_on": "9999-12-31"}, "expires_on"),
    ({"scopes": [KeyScope.READ_ONLY, KeyScope.JOBS]}, "scopes"),
    ({"scopes": ["everything"]}, "scopes"),
])
def test_the_key_form_refuses_bad_scopes_and_expiry(tenant_a, owner_a, fields, field):
    response = client_for(owner_a, tenant_a).post(
        "/portal/api-keys/", {"name": "x", "role": TenantRole.VIEWER, **fields})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not ApiKey.unscoped.exists()


def test_the_key_list_says_when_a_key_is_capped_or_its_creator_left(tenant_a, owner_a):
    operator = add_member(tenant_a, TenantRole.OPERATOR)
    _create_key(tenant_a, operator, role=TenantRole.OWNER, name="capped")
    page = english_client(owner_a, tenant_a).get("/portal/api-keys/").content.decode()
    assert "acts as Operator" in page
    Membership.unscoped.filter(user=operator).delete()
    page = english_client(owner_a, tenant_a).get("/portal/api-keys/").content.decode()
    assert "Creator has left" in page
