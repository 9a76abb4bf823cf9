"""DRF permissions: the default one (a tenant in scope) and one per tenant permission.

Kept apart from the views: DRF imports the default permission classes while it loads.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import permissions
from rest_framework.request import Request

from tenants.roles import KeyScope, TenantPermission, tenant_role_allows


class IsTenantMember(permissions.BasePermission):
    """The default for every API view: a tenant must be in scope (member session or key),
    and a key with scopes must have the one the action needs (see `scope_needed`)."""

    message = _("Sign in as a member of a seller company, or use one of its API keys.")

    def has_permission(self, request: Request, view) -> bool:
        if not (request.user and request.user.is_authenticated
                and getattr(request._request, "tenant", None) is not None):
            return False
        api_key = getattr(request._request, "api_key", None)
        if api_key is None or not api_key.scopes:
            return True
        needed = scope_needed(request, view)
        if needed is None or needed in api_key.scopes:
            return True
        self.code = "api_key_scope"
        self.message = (
            _("This API key may not do this: it needs the scope “%(scope)s”. Create a key "
              "with that scope in the portal.") % {"scope": KeyScope(needed).label}
            if needed else
            _("This API key has scopes, and this action needs a key without scopes (all "
              "that its role allows). Create such a key in the portal."))
        return False


def scope_needed(request: Request, view) -> str | None:
    """The key scope a request needs: None for reading (every key may read), else the
    view's `key_scopes[action]` ("" when no scope covers the action: keys without scopes
    only). A POST that only reads (an estimate) is declared with None."""
    if request.method in permissions.SAFE_METHODS:
        return None
    declared = getattr(view, "key_scopes", {})
    return declared.get(getattr(view, "action", None) or request.method.lower(), "")


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
