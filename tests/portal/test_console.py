"""The ISV console: who sees which pages, the tenant lifecycle and its audit trail,
and the demo data loader."""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent
from portal.demo_data import DEMO_PASSWORD, load_demo_data
from tenants.models import Membership, Tenant, User
from tenants.roles import StaffRole, TenantRole
from tests.conftest import add_member, client_for, create_staff, create_tenant
from tests.portal.test_url_walk import all_routes
from tests.tenants.documents import attach_documents


def english(client):
    client.cookies["django_language"] = "en"
    return client


def section(html: str, heading: str) -> str:
    """The part of a page under an <h2> heading, up to the next <h2>."""
    match = re.search(rf"<h2>{re.escape(heading)}</h2>(.*?)(<h2>|$)", html, re.S)
    assert match, f"no section {heading!r} on the page"
    return match.group(1)


@pytest.fixture
def pending_tenant(db) -> Tenant:
    tenant = create_tenant("Gamma Pending", status=Tenant.Status.PENDING,
                           licence_number="91110000GAMMA", legal_representative="Zhao")
    attach_documents(tenant)
    return tenant


# Who sees what --------------------------------------------------------------------------------

def test_platform_admin_sees_every_tenant(platform_admin, tenant_a, tenant_b):
    response = english(client_for(platform_admin)).get(reverse("console_tenants"))
    assert response.status_code == 200
    html = response.content.decode()
    for tenant in (tenant_a, tenant_b):
        assert tenant.name in html
        assert reverse("console_tenant", args=[tenant.slug]) in html


def test_tenant_list_filters_by_status_and_search(platform_admin, tenant_a, pending_tenant):
    client = english(client_for(platform_admin))
    pending = client.get(reverse("console_tenants"), {"status": "pending"}).content.decode()
    assert pending_tenant.name in pending and tenant_a.name not in pending
    found = client.get(reverse("console_tenants"), {"q": "ALPHA"}).content.decode()
    assert tenant_a.name in found and pending_tenant.name not in found


def test_support_can_view_but_not_change(support_staff, pending_tenant, tenant_a):
    client = english(client_for(support_staff))
    assert client.get(reverse("console_tenants")).status_code == 200
    detail = client.get(reverse("console_tenant", args=[pending_tenant.slug]))
    assert detail.status_code == 200
    assert "/verify/" not in detail.content.decode(), "support is offered the verify button"
    for tenant, action in ((pending_tenant, "verify"), (tenant_a, "suspend")):
        response = client.post(reverse("console_tenant_action", args=[tenant.slug, action]),
                               {"reason": "support tries"})
        assert response.status_code == 403, f"support could {action}"
    suspended = create_tenant("Delta Suspended", status=Tenant.Status.SUSPENDED)
    response = client.post(reverse("console_tenant_action", args=[suspended.slug, "reactivate"]))
    assert response.status_code == 403
    assert Tenant.objects.get(pk=pending_tenant.pk).status == Tenant.Status.PENDING
    assert Tenant.objects.get(pk=tenant_a.pk).status == Tenant.Status.ACTIVE
    assert Tenant.objects.get(pk=suspended.pk).status == Tenant.Status.SUSPENDED
    assert not AuditEvent.unscoped.exists()


def test_support_does_not_see_finance(support_staff):
    client = client_for(support_staff)
    assert client.get(reverse("finance_usage")).status_code == 403
    assert client.get(reverse("finance_invoices")).status_code == 403


def test_finance_sees_finance_pages_and_tenants_but_cannot_change(finance_staff, tenant_a):
    client = english(client_for(finance_staff))
    for name in ("finance_usage", "finance_invoices", "console_tenants"):
        assert client.get(reverse(name)).status_code == 200, name
    html = client.get(reverse("finance_usage")).content.decode()
    assert 'href="/console/finance/invoices/"' in html  # finance has its navigation
    response = client.post(reverse("console_tenant_action", args=[tenant_a.slug, "suspend"]),
                           {"reason": "finance tries"})
    assert response.status_code == 403


def test_admin_sees_finance_pages(platform_admin):
    client = client_for(platform_admin)
    assert client.get(reverse("finance_usage")).status_code == 200
    assert client.get(reverse("finance_invoices")).status_code == 200


@pytest.mark.parametrize("role", [TenantRole.OWNER, TenantRole.VIEWER])
def test_sellers_get_403_on_every_console_page(tenant_a, tenant_b, role):
    seller = add_member(tenant_a, role)
    client = client_for(seller, tenant_a)
    params = {"slug": tenant_b.slug, "pk": 1, "action": "suspend", "fmt": "csv"}
    console_routes = [r for r in all_routes() if r.route.startswith("console/")]
    assert len(console_routes) >= 6
    for route in console_routes:
        url = "/" + route.url_format % {p: params[p] for p in route.params}
        response = client.get(url, follow=True)
        if response.status_code == 405:
            response = client.post(url, {"reason": "x"}, follow=True)
        assert response.status_code == 403, f"{role} got {response.status_code} on {url}"
    assert Tenant.objects.get(pk=tenant_b.pk).status == Tenant.Status.ACTIVE


def test_staff_without_totp_are_sent_to_set_it_up(db):
    staff = create_staff(StaffRole.SUPPORT, with_totp=False)
    response = client_for(staff).get(reverse("console_tenants"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))


# Lifecycle and audit trail ----------------------------------------------------------------

def test_verify_suspend_reactivate_are_recorded(platform_admin, pending_tenant):
    client = english(client_for(platform_admin))
    slug = pending_tenant.slug

    def act(action, **data):
        response = client.post(reverse("console_tenant_action", args=[slug, action]), data,
                               follow=True)
        assert response.status_code == 200
        assert response.redirect_chain[-1][0] == reverse("console_tenant", args=[slug])
        return response.content.decode()

    html = act("verify")
    tenant = Tenant.objects.get(pk=pending_tenant.pk)
    assert tenant.status == Tenant.Status.ACTIVE
    assert tenant.verified_by == platform_admin and tenant.verified_at is not None
    assert "Gamma Pending is verified; the owners were e-mailed." in html
    assert "Tenant verified" in section(html, "Audit trail")

    html = act("suspend", reason="Licence expired on 2026-10-01")
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.SUSPENDED
    assert tenant.suspension_reason == "Licence expired on 2026-10-01"
    assert "Licence expired on 2026-10-01" in html

    html = act("reactivate")
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.ACTIVE and tenant.suspension_reason == ""

    trail = section(html, "Audit trail")
    for label in ("Tenant verified", "Tenant suspended", "Tenant reactivated"):
        assert label in trail
    assert trail.count(platform_admin.email) == 3
    # Newest first.
    assert trail.index("Tenant reactivated") < trail.index("Tenant suspended") \
        < trail.index("Tenant verified")
    events = AuditEvent.unscoped.filter(tenant=tenant).order_by("created_at", "id")
    assert [e.action for e in events] == [AuditEvent.Action.TENANT_VERIFIED,
                                         AuditEvent.Action.TENANT_SUSPENDED,
                                         AuditEvent.Action.TENANT_REACTIVATED]
    assert events[1].details == {"reason": "Licence expired on 2026-10-01"}


@pytest.mark.parametrize("reason", ["", "   "])
def test_suspend_without_a_reason_is_refused(platform_admin, tenant_a, reason):
    client = english(client_for(platform_admin))
    response = client.post(reverse("console_tenant_action", args=[tenant_a.slug, "suspend"]),
                           {"reason": reason}, follow=True)
    assert response.status_code == 200
    assert "Give the reason for the suspension; the seller will see it." in \
        response.content.decode()
    assert Tenant.objects.get(pk=tenant_a.pk).status == Tenant.Status.ACTIVE
    assert not AuditEvent.unscoped.filter(tenant=tenant_a).exists()


def test_verify_needs_the_business_details(platform_admin):
    bare = create_tenant("Epsilon Bare", status=Tenant.Status.PENDING)
    client = english(client_for(platform_admin))
    response = client.post(reverse("console_tenant_action", args=[bare.slug, "verify"]),
                           follow=True)
    html = response.content.decode()
    assert "Still missing before the company can be verified" in html
    for missing in ("Business licence number", "Legal representative", "Company bank account"):
        assert missing in html
    assert Tenant.objects.get(pk=bare.pk).status == Tenant.Status.PENDING


def test_an_unknown_action_is_not_found(platform_admin, tenant_a):
    response = client_for(platform_admin).post(
        reverse("console_tenant_action", args=[tenant_a.slug, "delete"]))
    assert response.status_code == 404
    assert Tenant.objects.filter(pk=tenant_a.pk).exists()


def test_actions_take_only_post(platform_admin, tenant_a):
    response = client_for(platform_admin).get(
        reverse("console_tenant_action", args=[tenant_a.slug, "suspend"]))
    assert response.status_code == 405
    assert Tenant.objects.get(pk=tenant_a.pk).status == Tenant.Status.ACTIVE


def test_detail_shows_members_of_that_tenant_only(platform_admin, tenant_a, tenant_b,
                                                   owner_a, owner_b):
    html = client_for(platform_admin).get(
        reverse("console_tenant", args=[tenant_a.slug])).content.decode()
    assert owner_a.email in html and owner_b.email not in html
    assert tenant_a.licence_number in html


# Demo data -------------------------------------------------------------------------------

DEMO_TENANT_SLUGS = {"yiwu-youpin", "sz-suda-3c"}


def _demo_state():
    return {
        "users": sorted(User.objects.values_list("email", "staff_role")),
        "tenants": sorted(Tenant.objects.values_list("slug", "status")),
        "memberships": sorted(Membership.unscoped.values_list("tenant__slug", "user__email",
                                                              "role")),
        "authenticators": sorted(Authenticator.objects.values_list("user__email", "type")),
    }


def test_demo_data_has_staff_and_two_tenants(db):
    accounts = load_demo_data()
    admin = User.objects.get(staff_role=StaffRole.PLATFORM_ADMIN)
    finance = User.objects.get(staff_role=StaffRole.FINANCE)
    assert admin.is_superuser and not finance.is_superuser
    for staff in (admin, finance):
        assert staff.check_password(DEMO_PASSWORD)
        assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()
        assert staff.emailaddress_set.get().verified
        account = next(a for a in accounts if a.email == staff.email)
        assert len(account.totp_secret) >= 16
    tenants = Tenant.objects.filter(slug__in=DEMO_TENANT_SLUGS)
    assert tenants.count() == 2
    for tenant in tenants:
        assert tenant.status == Tenant.Status.ACTIVE
        roles = sorted(Membership.unscoped.filter(tenant=tenant).values_list("role", flat=True))
        assert roles == sorted([TenantRole.OWNER, TenantRole.REVIEWER])
        for membership in Membership.unscoped.filter(tenant=tenant).select_related("user"):
            assert membership.user.check_password(DEMO_PASSWORD)
            assert not membership.user.staff_role
            assert membership.user.emailaddress_set.get().verified


def test_demo_data_is_idempotent(db):
    first = load_demo_data()
    state = _demo_state()
    second = load_demo_data()
    assert _demo_state() == state
    assert [(a.email, a.totp_secret) for a in first] == [(a.email, a.totp_secret) for a in second]


def test_demo_data_command_prints_the_accounts(db, capsys):
    call_command("load_demo_data")
    out = capsys.readouterr().out
    assert "admin@isv.example.com" in out and DEMO_PASSWORD in out
    assert "TOTP secret" in out
