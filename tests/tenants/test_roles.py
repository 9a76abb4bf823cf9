"""Roles and permissions (tenants/roles.py), checked through the real guards:
the DRF permission `requires(...)`, the portal's `member_required` and the console's
`staff_required`."""

from __future__ import annotations

import pytest
from django.test import Client

from tenants import api_keys
from tenants.models import Invitation, Membership, Tenant
from tenants.roles import (
    StaffPermission,
    StaffRole,
    TenantPermission,
    TenantRole,
    staff_role_allows,
    tenant_role_allows,
)
from tenants.scope import tenant_scope
from tests.conftest import add_member, client_for, create_staff, create_tenant, create_user
from tests.tenants.documents import attach_documents

P = TenantPermission
ALL_TENANT_PERMISSIONS = list(TenantPermission)

# Written out by hand on purpose: this is the specification the code must meet.
ACTIVE_MATRIX = {
    TenantRole.OWNER: {P.VIEW, P.START_WORK, P.REVIEW, P.PUBLISH, P.MANAGE_MEMBERS,
                       P.MANAGE_API_KEYS, P.MANAGE_COMPANY},
    # Publishing is its own permission: reviewers and operators both publish (README "Roles").
    TenantRole.OPERATOR: {P.VIEW, P.START_WORK, P.PUBLISH},
    TenantRole.REVIEWER: {P.VIEW, P.REVIEW, P.PUBLISH},
    TenantRole.VIEWER: {P.VIEW},
}
# Pending verification or suspended: no new work and no reviewing, reading stays.
INACTIVE_MATRIX = {
    TenantRole.OWNER: {P.VIEW, P.MANAGE_MEMBERS, P.MANAGE_API_KEYS, P.MANAGE_COMPANY},
    TenantRole.OPERATOR: {P.VIEW},
    TenantRole.REVIEWER: {P.VIEW},
    TenantRole.VIEWER: {P.VIEW},
}
STAFF_MATRIX = {
    StaffRole.PLATFORM_ADMIN: {StaffPermission.VIEW_TENANTS, StaffPermission.MANAGE_TENANTS,
                               StaffPermission.VIEW_FINANCE, StaffPermission.MANAGE_FINANCE,
                               StaffPermission.VIEW_GENERATION,
                               StaffPermission.MANAGE_GENERATION},
    StaffRole.SUPPORT: {StaffPermission.VIEW_TENANTS, StaffPermission.VIEW_GENERATION},
    StaffRole.FINANCE: {StaffPermission.VIEW_TENANTS, StaffPermission.VIEW_FINANCE,
                        StaffPermission.MANAGE_FINANCE},
}
INACTIVE_STATUSES = [Tenant.Status.PENDING, Tenant.Status.SUSPENDED]


def _cases(matrix):
    return [(role, perm, perm in allowed) for role, allowed in matrix.items()
            for perm in ALL_TENANT_PERMISSIONS]


# The matrix as plain functions -----------------------------------------------------------

@pytest.mark.parametrize(("role", "permission", "allowed"), _cases(ACTIVE_MATRIX))
def test_tenant_role_matrix_for_an_active_tenant(role, permission, allowed):
    assert tenant_role_allows(role, True, permission) is allowed


@pytest.mark.parametrize(("role", "permission", "allowed"), _cases(INACTIVE_MATRIX))
def test_tenant_role_matrix_for_an_inactive_tenant(role, permission, allowed):
    assert tenant_role_allows(role, False, permission) is allowed


def test_an_unknown_or_missing_role_allows_nothing():
    for permission in ALL_TENANT_PERMISSIONS:
        assert not tenant_role_allows("superhero", True, permission)
        assert not tenant_role_allows(None, True, permission)


@pytest.mark.parametrize("role", list(StaffRole))
def test_staff_role_matrix(role):
    allowed = {p for p in StaffPermission if staff_role_allows(role, p)}
    assert allowed == STAFF_MATRIX[role]


def test_a_seller_has_no_staff_permissions():
    assert not any(staff_role_allows("", p) for p in StaffPermission)


# Through the DRF permission requires(...) ------------------------------------------------

def _api_key(tenant: Tenant, role: str) -> str:
    creator = Membership.unscoped.filter(tenant=tenant).first().user
    with tenant_scope(tenant):
        return api_keys.create_api_key(created_by=creator, name=f"{role} key", role=role).raw_key


def _probe_api(client: Client, permission: TenantPermission, **headers):
    return client.get(f"/api/v1/probe/{permission.value}/", **headers)


@pytest.mark.urls("tests.tenants.permission_urls")
@pytest.mark.parametrize("status", [Tenant.Status.ACTIVE, *INACTIVE_STATUSES])
@pytest.mark.parametrize("role", list(TenantRole))
def test_drf_requires_follows_the_matrix_for_api_keys(db, role, status):
    tenant = create_tenant("Keyed", status=status)
    add_member(tenant, TenantRole.OWNER)
    raw_key = _api_key(tenant, role)
    matrix = ACTIVE_MATRIX if status == Tenant.Status.ACTIVE else INACTIVE_MATRIX
    client = Client()
    for permission in ALL_TENANT_PERMISSIONS:
        response = _probe_api(client, permission, HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        expected = 200 if permission in matrix[role] else 403
        assert response.status_code == expected, (role, status, permission)
        if expected == 200:
            assert response.json() == {"allowed": permission.value, "tenant": tenant.slug}
        else:
            body = response.json()
            assert body["code"] == "permission_denied"
            assert set(body) == {"code", "message", "details"}


@pytest.mark.urls("tests.tenants.permission_urls")
@pytest.mark.parametrize("role", list(TenantRole))
def test_drf_requires_follows_the_matrix_for_signed_in_members(tenant_a, owner_a, role):
    member = owner_a if role == TenantRole.OWNER else add_member(tenant_a, role)
    client = client_for(member, tenant_a)
    for permission in ALL_TENANT_PERMISSIONS:
        response = _probe_api(client, permission)
        assert response.status_code == (200 if permission in ACTIVE_MATRIX[role] else 403)


@pytest.mark.urls("tests.tenants.permission_urls")
def test_drf_suspended_owner_keeps_view_but_loses_work(tenant_a, owner_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(status=Tenant.Status.SUSPENDED)
    client = client_for(owner_a, tenant_a)
    assert _probe_api(client, P.VIEW).status_code == 200
    assert _probe_api(client, P.START_WORK).status_code == 403
    assert _probe_api(client, P.REVIEW).status_code == 403


@pytest.mark.urls("tests.tenants.permission_urls")
def test_drf_requires_refuses_callers_without_a_tenant(db):
    anonymous = _probe_api(Client(), P.VIEW)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    assert anonymous["WWW-Authenticate"] == "Api-Key"

    no_tenant = client_for(create_user())
    assert _probe_api(no_tenant, P.VIEW).status_code == 403

    # ISV staff are never in a tenant's scope, so tenant endpoints refuse them too.
    staff = client_for(create_staff(StaffRole.PLATFORM_ADMIN))
    assert _probe_api(staff, P.VIEW).status_code == 403


# Through the portal guard member_required(...) --------------------------------------------

@pytest.mark.urls("tests.tenants.permission_urls")
@pytest.mark.parametrize("status", [Tenant.Status.ACTIVE, *INACTIVE_STATUSES])
@pytest.mark.parametrize("role", list(TenantRole))
def test_portal_guard_follows_the_matrix(db, role, status):
    tenant = create_tenant("Portal", status=status)
    client = client_for(add_member(tenant, role), tenant)
    matrix = ACTIVE_MATRIX if status == Tenant.Status.ACTIVE else INACTIVE_MATRIX
    for permission in ALL_TENANT_PERMISSIONS:
        response = client.get(f"/portal-probe/{permission.value}/")
        assert response.status_code == (200 if permission in matrix[role] else 403), (
            role, status, permission)


@pytest.mark.urls("tests.tenants.permission_urls")
def test_portal_guard_sends_anonymous_visitors_to_sign_in_and_outsiders_home(db):
    response = Client().get("/portal-probe/view/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/portal-probe/view/")

    lonely = client_for(create_user())
    response = lonely.get("/portal-probe/view/")
    assert response.status_code == 302
    assert response["Location"] == "/"


# Real portal pages -------------------------------------------------------------------------

@pytest.mark.parametrize("role", [TenantRole.OPERATOR, TenantRole.REVIEWER, TenantRole.VIEWER])
def test_only_owners_may_invite_on_the_members_page(tenant_a, owner_a, role):
    client = client_for(add_member(tenant_a, role), tenant_a)
    assert client.get("/portal/members/").status_code == 200
    response = client.post("/portal/members/", {"email": "new@example.com",
                                                "role": TenantRole.VIEWER})
    assert response.status_code == 403
    assert not Invitation.unscoped.exists()


def test_an_owner_may_invite_on_the_members_page(tenant_a, owner_a):
    client = client_for(owner_a, tenant_a)
    response = client.post("/portal/members/", {"email": "new@example.com",
                                                "role": TenantRole.VIEWER})
    assert response.status_code == 302
    assert Invitation.unscoped.get().email == "new@example.com"


def test_a_viewer_cannot_change_roles_remove_members_or_edit_the_company(tenant_a, owner_a):
    client = client_for(add_member(tenant_a, TenantRole.VIEWER), tenant_a)
    owner_membership = Membership.unscoped.get(user=owner_a)
    assert client.post(f"/portal/members/{owner_membership.pk}/role/",
                       {"role": TenantRole.VIEWER}).status_code == 403
    assert client.post(f"/portal/members/{owner_membership.pk}/remove/").status_code == 403
    assert client.get("/portal/company/").status_code == 200
    assert client.post("/portal/company/", {"name": "Hijacked", "time_zone": "UTC"}
                       ).status_code == 403
    owner_membership.refresh_from_db()
    tenant_a.refresh_from_db()
    assert owner_membership.role == TenantRole.OWNER
    assert tenant_a.name == "Alpha Trading"


@pytest.mark.parametrize("role", [TenantRole.OPERATOR, TenantRole.REVIEWER, TenantRole.VIEWER])
def test_api_keys_page_is_for_owners_only(tenant_a, owner_a, role):
    assert client_for(add_member(tenant_a, role), tenant_a).get("/portal/api-keys/"
                                                                ).status_code == 403
    assert client_for(owner_a, tenant_a).get("/portal/api-keys/").status_code == 200


@pytest.mark.parametrize("status", INACTIVE_STATUSES)
def test_owner_of_an_inactive_tenant_still_sees_the_dashboard(db, status):
    tenant = create_tenant("Sleepy Goods", status=status)
    response = client_for(add_member(tenant, TenantRole.OWNER), tenant).get("/portal/")
    assert response.status_code == 200
    assert tenant.name in response.content.decode()
    assert response.context["request"].tenant == tenant


def test_a_suspended_tenants_viewer_still_reads_members(db):
    tenant = create_tenant("Frozen", status=Tenant.Status.SUSPENDED)
    owner = add_member(tenant, TenantRole.OWNER)
    client = client_for(add_member(tenant, TenantRole.VIEWER), tenant)
    response = client.get("/portal/members/")
    assert response.status_code == 200
    assert owner.email in response.content.decode()


# Real console pages for ISV staff ----------------------------------------------------------

@pytest.mark.parametrize("role", list(StaffRole))
def test_console_pages_follow_the_staff_matrix(db, role):
    tenant = create_tenant("Pending Co", status=Tenant.Status.PENDING,
                           licence_number="9133", legal_representative="Zhang")
    attach_documents(tenant)
    client = client_for(create_staff(role))
    allowed = STAFF_MATRIX[role]

    can_view = StaffPermission.VIEW_TENANTS in allowed
    assert client.get("/console/tenants/").status_code == (200 if can_view else 403)
    assert client.get(f"/console/tenants/{tenant.slug}/").status_code == (
        200 if can_view else 403)

    can_finance = StaffPermission.VIEW_FINANCE in allowed
    assert client.get("/console/finance/usage/").status_code == (200 if can_finance else 403)

    can_manage = StaffPermission.MANAGE_TENANTS in allowed
    response = client.post(f"/console/tenants/{tenant.slug}/verify/")
    assert response.status_code == (302 if can_manage else 403)
    tenant.refresh_from_db()
    expected = Tenant.Status.ACTIVE if can_manage else Tenant.Status.PENDING
    assert tenant.status == expected


def test_sellers_cannot_open_the_console(tenant_a, owner_a):
    client = client_for(owner_a, tenant_a)
    assert client.get("/console/tenants/").status_code == 403
    assert client.post(f"/console/tenants/{tenant_a.slug}/suspend/",
                       {"reason": "nope"}).status_code == 403
    tenant_a.refresh_from_db()
    assert tenant_a.status == Tenant.Status.ACTIVE


def test_a_deactivated_staff_account_loses_its_staff_role(db):
    staff = create_staff(StaffRole.PLATFORM_ADMIN)
    assert staff.is_isv_staff
    staff.is_active = False
    assert not staff.is_isv_staff
