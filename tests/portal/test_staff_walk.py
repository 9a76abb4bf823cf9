"""Every Django admin and ISV console page, opened as each staff role: no page answers 500.

The routes come from the resolver, with the parameters of the tenant-isolation walk
(tests/portal/test_url_walk.py), so a new page is walked as soon as it exists.
"""

from __future__ import annotations

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.urls import reverse

from tenants.models import Membership, Tenant
from tenants.roles import StaffRole, TenantRole
from tests.conftest import client_for, create_staff, create_user
from tests.portal.test_url_walk import all_routes, route_params

STAFF_AREAS = ("admin/", "console/")


def staff_pages():
    return [r for r in all_routes() if r.route.startswith(STAFF_AREAS)]


@pytest.fixture
def world(world_a):
    TOTP.activate(world_a.owner, generate_totp_secret())  # the admin's MFA pages have a row
    return world_a


@pytest.mark.parametrize("role", [StaffRole.PLATFORM_ADMIN, StaffRole.SUPPORT,
                                  StaffRole.FINANCE])
def test_every_admin_and_console_page_opens_without_a_server_error(world, role):
    client = client_for(create_staff(role))
    failures, opened = [], 0
    for route in staff_pages():
        assert not route.params or route_params(route.route), route.label
        url = route.url(world)
        response = client.get(url)
        if response.status_code == 405:
            continue  # POST-only actions; their forms are on the pages walked
        opened += response.status_code == 200
        if response.status_code >= 500:
            failures.append(f"GET {url} -> {response.status_code}")
    assert not failures, f"{len(failures)} page(s) failed as {role}:\n  " + "\n  ".join(failures)
    assert opened > (50 if role != StaffRole.FINANCE else 5)  # the walk really opened pages


def test_the_platform_admin_opens_and_adds_a_tenant_with_its_members(world, platform_admin):
    client = client_for(platform_admin)
    page = client.get(reverse("admin:tenants_tenant_change", args=[world.tenant.pk]))
    assert page.status_code == 200 and world.owner.email in page.content.decode()
    assert client.get(reverse("admin:tenants_tenant_add")).status_code == 200
    added = client.post(reverse("admin:tenants_tenant_add"), {
        "name": "Gamma Supplies", "slug": "gamma-supplies", "status": "pending",
        "time_zone": "Asia/Shanghai"})
    assert added.status_code == 302, added.content.decode()[:2000]
    gamma = Tenant.objects.get(slug="gamma-supplies")
    member = create_user()
    prefix = "memberships" if "memberships-TOTAL_FORMS" in client.get(
        reverse("admin:tenants_tenant_change", args=[gamma.pk])).content.decode() else \
        "membership_set"
    changed = client.post(reverse("admin:tenants_tenant_change", args=[gamma.pk]), {
        "name": "Gamma Supplies", "slug": "gamma-supplies", "status": "pending",
        "time_zone": "Asia/Shanghai",
        f"{prefix}-TOTAL_FORMS": "1", f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-0-user": member.pk, f"{prefix}-0-role": TenantRole.OWNER})
    assert changed.status_code == 302, changed.content.decode()[:2000]
    assert Membership.unscoped.get(tenant=gamma).user == member


def test_the_platform_admin_edits_a_membership(world, platform_admin):
    client = client_for(platform_admin)
    membership = world.reviewer_membership
    response = client.post(reverse("admin:tenants_membership_change", args=[membership.pk]), {
        "user": world.reviewer.pk, "tenant": world.tenant.pk, "role": TenantRole.VIEWER})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Membership.unscoped.get(pk=membership.pk).role == TenantRole.VIEWER
