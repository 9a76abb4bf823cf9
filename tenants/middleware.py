"""Request-level tenancy: who the tenant is, and the scope every query runs in."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from tenants import api_keys
from tenants.scope import tenant_scope
from tenants.selectors import active_membership, memberships_of


class TenantMiddleware:
    """Resolves the request's tenant (from an API key or the signed-in member's session)
    and runs the rest of the request inside that tenant's scope."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.tenant = None
        request.tenant_role = None
        request.membership = None
        request.memberships = []  # the signed-in member's, for the tenant switcher too
        # A key is for programs calling the API; it never opens portal pages, even next to
        # a signed-in member's session (which would otherwise see the key's tenant).
        is_api = request.path_info.startswith("/api/")
        active_key = api_keys.key_from_request(request) if is_api else None
        request.api_key = active_key.api_key if active_key else None
        if active_key is not None:
            request.tenant = active_key.api_key.tenant
            request.tenant_role = active_key.role
        elif request.user.is_authenticated and not request.user.is_isv_staff:
            request.memberships = list(memberships_of(request.user))
            membership = active_membership(request.memberships, request.session.get("tenant_id"))
            if membership is not None:
                request.membership = membership
                request.tenant = membership.tenant
                request.tenant_role = membership.role
        if request.tenant is not None:
            timezone.activate(request.tenant.zone)
        try:
            with tenant_scope(request.tenant):
                return self.get_response(request)
        finally:
            timezone.deactivate()


class StaffMfaMiddleware:
    """ISV staff must have TOTP: until they set it up, every page leads to the setup page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and user.is_isv_staff
            and not request.path.startswith(("/accounts/", "/i18n/", "/static/"))
            and not is_mfa_enabled(user, [Authenticator.Type.TOTP])
        ):
            next_query = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse('mfa_activate_totp')}?{next_query}")
        return self.get_response(request)
