"""Per-tenant API keys for programs: `Authorization: Api-Key lk_<prefix>_<secret>`.

Keys are random and long, so a plain SHA-256 is a sound way to store them: the key itself
is shown once at creation and never again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from audit.models import AuditEvent
from audit.services import record
from tenants.models import ApiKey, User
from tenants.roles import TenantRole

HEADER_SCHEME = "Api-Key"
_KEY_START = "lk_"


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    raw_key: str  # shown to the user once


def _hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create_api_key(*, created_by: User, name: str, role: str = TenantRole.OPERATOR) -> NewApiKey:
    """Create a key for the tenant in scope."""
    prefix = secrets.token_hex(6)
    raw_key = f"{_KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        name=name, prefix=prefix, key_hash=_hash(raw_key), role=role, created_by=created_by
    )
    record(AuditEvent.Action.API_KEY_CREATED, tenant=api_key.tenant, actor=created_by,
           target=name)
    return NewApiKey(api_key=api_key, raw_key=raw_key)


def revoke_api_key(api_key: ApiKey, *, by: User) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        record(AuditEvent.Action.API_KEY_REVOKED, tenant=api_key.tenant, actor=by,
               target=api_key.name)


class InvalidApiKey(Exception):
    pass


def find_active_key(raw_key: str) -> ApiKey:
    """Look a presented key up across tenants (the key decides the tenant)."""
    try:
        _start, prefix, _secret = raw_key.split("_", 2)
    except ValueError:
        raise InvalidApiKey from None
    api_key = (
        ApiKey.unscoped.select_related("tenant", "created_by")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash(raw_key)):
        raise InvalidApiKey
    if not api_key.created_by.is_active:
        raise InvalidApiKey
    ApiKey.unscoped.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    return api_key


def presented_key(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() != HEADER_SCHEME.lower():
        return None
    return value.strip()


def key_from_request(request: HttpRequest) -> ApiKey | None:
    """The valid key the request presents, if any. An invalid one is refused by
    ApiKeyAuthentication when the API view authenticates."""
    raw_key = presented_key(request)
    if not raw_key:
        return None
    try:
        return find_active_key(raw_key)
    except InvalidApiKey:
        return None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """DRF side of the API key: the tenant middleware has already looked the key up."""

    def authenticate(self, request):
        if presented_key(request._request) is None:
            return None
        api_key = getattr(request._request, "api_key", None)
        if api_key is None:
            raise exceptions.AuthenticationFailed(
                _("This API key is not valid or has been revoked. Create a new key in the portal.")
            )
        return (api_key.created_by, api_key)

    def authenticate_header(self, request) -> str:
        return HEADER_SCHEME


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Documents the API key in the OpenAPI schema (drf-spectacular finds it by subclassing)."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": f"`{HEADER_SCHEME} <key>`"}
