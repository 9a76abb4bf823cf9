"""Navigation for the base layout: the seller portal's or the ISV console's."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from tenants.access import member_can, staff_can
from tenants.roles import StaffPermission, TenantPermission


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    permission: TenantPermission | StaffPermission


SELLER_NAV = [
    NavItem(_("Dashboard"), "dashboard", TenantPermission.VIEW),
    NavItem(_("Stores"), "stores", TenantPermission.VIEW),
    NavItem(_("Catalog"), "catalog", TenantPermission.VIEW),
    NavItem(_("Jobs"), "jobs", TenantPermission.VIEW),
    NavItem(_("Review"), "review", TenantPermission.VIEW),
    NavItem(_("Effects"), "effects", TenantPermission.VIEW),
    NavItem(_("Usage"), "usage", TenantPermission.VIEW),
    NavItem(_("Members"), "members", TenantPermission.VIEW),
    NavItem(_("API keys"), "api_keys", TenantPermission.MANAGE_API_KEYS),
    NavItem(_("Company"), "company", TenantPermission.VIEW),
]

STAFF_NAV = [
    NavItem(_("Tenants"), "console_tenants", StaffPermission.VIEW_TENANTS),
    NavItem(_("Usage"), "finance_usage", StaffPermission.VIEW_FINANCE),
    NavItem(_("Invoices"), "finance_invoices", StaffPermission.VIEW_FINANCE),
    NavItem(_("Stores waiting for a pack"), "finance_waiting_stores", StaffPermission.VIEW_FINANCE),
    NavItem(_("Jobs"), "console_jobs", StaffPermission.VIEW_GENERATION),
    NavItem(_("Model nodes"), "console_nodes", StaffPermission.VIEW_GENERATION),
    NavItem(_("Instructions"), "console_instructions", StaffPermission.VIEW_GENERATION),
    NavItem(_("Banned words"), "console_banned_words", StaffPermission.VIEW_GENERATION),
    NavItem(_("Model requests"), "console_request_log", StaffPermission.VIEW_GENERATION),
    NavItem(_("Model cost"), "console_model_cost", StaffPermission.VIEW_GENERATION),
]


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    if user.is_isv_staff:
        items = [i for i in STAFF_NAV if staff_can(request, i.permission)]
        other_tenants = []
    elif getattr(request, "tenant", None) is not None:
        items = [i for i in SELLER_NAV if member_can(request, i.permission)]
        # The middleware's list: no second query per page.
        other_tenants = [m.tenant for m in getattr(request, "memberships", [])
                         if m.tenant_id != request.tenant.pk]
    else:
        return {}
    current = request.resolver_match.url_name if request.resolver_match else ""
    return {
        "nav_items": [
            {"label": i.label, "url": reverse(i.url_name), "active": i.url_name == current,
             "badge": _waiting_for_review(request) if i.url_name == "review" else None}
            for i in items
        ],
        "other_tenants": other_tenants,
    }


def _waiting_for_review(request: HttpRequest) -> int:
    """Items waiting for review, for the Review nav item: one count query per request."""
    if not hasattr(request, "_waiting_for_review"):
        from review.selectors import waiting_for_review_count
        from tenants.scope import tenant_scope

        with tenant_scope(request.tenant):
            request._waiting_for_review = waiting_for_review_count()
    return request._waiting_for_review
