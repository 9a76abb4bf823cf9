"""Server-side permission checks for portal and console views."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect

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


def sign_in_first(request: HttpRequest) -> HttpResponse:
    """To the sign-in page, and back afterwards. A live part of a page (an htmx request whose
    session has ended) sends the whole page there and back to that page, instead of putting
    the sign-in form inside its panel."""
    htmx = getattr(request, "htmx", None)
    if htmx:
        return HttpResponseClientRedirect(
            redirect_to_login(htmx.current_url_abs_path or request.get_full_path()).url)
    return redirect_to_login(request.get_full_path())


def member_required(permission: TenantPermission = TenantPermission.VIEW) -> Callable[[View], View]:
    """A seller portal view: signed-in member of the tenant in scope, with the permission."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return sign_in_first(request)
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
                return sign_in_first(request)
            if not staff_can(request, permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
