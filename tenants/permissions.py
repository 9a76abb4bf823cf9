"""DRF permissions: the default one (a tenant in scope) and one per tenant permission.

Kept apart from the views: DRF imports the default permission classes while it loads.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import permissions
from rest_framework.request import Request

from tenants.roles import TenantPermission, tenant_role_allows


class IsTenantMember(permissions.BasePermission):
    """The default for every API view: a tenant must be in scope (member session or key)."""

    message = _("Sign in as a member of a seller company, or use one of its API keys.")

    def has_permission(self, request: Request, view) -> bool:
        return bool(request.user and request.user.is_authenticated
                    and getattr(request._request, "tenant", None) is not None)


def requires(permission: TenantPermission) -> type[permissions.BasePermission]:
    """A DRF permission class for one tenant permission, e.g. requires(START_WORK)."""

    class _Requires(IsTenantMember):
        message = _("Your role or your company's status does not allow this action.")

        def has_permission(self, request: Request, view) -> bool:
            if not super().has_permission(request, view):
                return False
            tenant = request._request.tenant
            return tenant_role_allows(request._request.tenant_role, tenant.is_active, permission)

    _Requires.__name__ = f"Requires_{permission}"
    return _Requires
