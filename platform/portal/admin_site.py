"""The Django admin, for ISV staff only, signed in through allauth (so MFA applies)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from tenants.roles import StaffRole
from tenants.scope import tenant_scope

if TYPE_CHECKING:
    from tenants.models import Tenant

ADMIN_ROLES = {StaffRole.PLATFORM_ADMIN, StaffRole.SUPPORT}


def can_use_admin(request: HttpRequest) -> bool:
    user = request.user
    return user.is_active and user.is_authenticated and user.staff_role in ADMIN_ROLES


def can_change_in_admin(request: HttpRequest) -> bool:
    return can_use_admin(request) and request.user.staff_role == StaffRole.PLATFORM_ADMIN


class StaffAdminSite(admin.AdminSite):
    site_header = _("Listing AI administration")
    site_title = _("Listing AI admin")

    def has_permission(self, request: HttpRequest) -> bool:
        return can_use_admin(request)

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if request.user.is_authenticated:  # signed in, but not as ISV admin or support
            raise PermissionDenied
        # Django's own login form would skip the second factor.
        next_url = request.GET.get("next") or reverse("admin:index")
        return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")


class StaffModelAdmin(admin.ModelAdmin):
    """Support may look; only platform admins change anything."""

    def has_module_permission(self, request):
        return can_use_admin(request)

    def has_view_permission(self, request, obj=None):
        return can_use_admin(request)

    def has_add_permission(self, request):
        return can_change_in_admin(request)

    def has_change_permission(self, request, obj=None):
        return can_change_in_admin(request)

    def has_delete_permission(self, request, obj=None):
        return can_change_in_admin(request)


def in_tenant_scope(tenant: Tenant | None, view: Callable[[], HttpResponse]) -> HttpResponse:
    """Run an admin view, and render its page, with `tenant` in scope: Django's forms and
    formsets ask a model's default manager (unique checks, an inline row's hidden id),
    which for a tenant-owned model needs the tenant in scope."""
    with tenant_scope(tenant):
        response = view()
        if isinstance(response, TemplateResponse):
            response.render()
    return response


class TenantOwnedAdmin(StaffModelAdmin):
    """Staff see every tenant's rows here, on purpose. A row's page is built in its tenant's
    scope."""

    def get_queryset(self, request):
        return self.model.unscoped.all()

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        row = self.get_object(request, unquote(object_id)) if object_id else None
        return in_tenant_scope(row.tenant if row else None, lambda: super(
            TenantOwnedAdmin, self).changeform_view(request, object_id, form_url, extra_context))


class ReadOnlyMixin:
    """For records written only by services (the quota ledger, Stripe's webhooks, generation):
    staff look, nobody edits. Every field is shown read-only, so the page builds no form
    (whose choices of stores or subscriptions would need a tenant in scope). Put it before
    StaffModelAdmin or TenantOwnedAdmin in the bases."""

    def get_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if not f.primary_key]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
