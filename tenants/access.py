"""Server-side permission checks for portal and console views."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from tenants.roles import StaffPermission, TenantPermission, staff_role_allows, tenant_role_allows

View = Callable[..., HttpResponse]


def member_can(request: HttpRequest, permission: TenantPermission) -> bool:
    tenant = getattr(request, "tenant", None)
    return tenant is not None and tenant_role_allows(request.tenant_role, tenant.is_active,
                                                     permission)


def staff_can(request: HttpRequest, permission: StaffPermission) -> bool:
    user = request.user
    return user.is_authenticated and user.is_isv_staff and staff_role_allows(user.staff_role,
                                                                             permission)


def member_required(permission: TenantPermission = TenantPermission.VIEW) -> Callable[[View], View]:
    """A seller portal view: signed-in member of the tenant in scope, with the permission."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if request.tenant is None:
                return redirect("home")
            if not member_can(request, permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def staff_required(permission: StaffPermission) -> Callable[[View], View]:
    """An ISV console view: signed-in staff (MFA enforced by middleware) with the permission."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not staff_can(request, permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
