"""Per-tenant API keys for programs: `Authorization: Api-Key lk_<prefix>_<secret>`.

Keys are random and long, so a plain SHA-256 is a sound way to store them: the key itself
is shown once at creation and never again.

A key follows its creator's membership: it acts with at most the creator's current role in
the key's tenant (`roles.narrower_role`) and stops working once the creator leaves it. It
may be limited further by scopes (`roles.KeyScope`) and an expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Q, Subquery
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from audit.models import AuditEvent
from audit.services import record
from tenants.models import ApiKey, Membership, User
from tenants.roles import KeyScope, TenantRole, narrower_role

HEADER_SCHEME = "Api-Key"
_KEY_START = "lk_"
# What create_api_key makes; anything else is refused before the database is asked.
KEY_FORMAT = re.compile(r"lk_(?P<prefix>[0-9a-f]{12})_[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    raw_key: str  # shown to the user once


def _hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create_api_key(*, created_by: User, name: str, role: str = TenantRole.OPERATOR,
                   scopes: list[str] | None = None,
                   expires_at: datetime | None = None) -> NewApiKey:
    """Create a key for the tenant in scope."""
    prefix = secrets.token_hex(6)
    raw_key = f"{_KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
    scopes = [scope for scope in KeyScope.values if scope in (scopes or [])]
    api_key = ApiKey.objects.create(
        name=name, prefix=prefix, key_hash=_hash(raw_key), role=role, created_by=created_by,
        scopes=scopes, expires_at=expires_at,
    )
    record(AuditEvent.Action.API_KEY_CREATED, tenant=api_key.tenant, actor=created_by,
           target=name, details={"role": role, "scopes": scopes,
                                 "expires_at": expires_at.isoformat() if expires_at else None})
    return NewApiKey(api_key=api_key, raw_key=raw_key)


def revoke_api_key(api_key: ApiKey, *, by: User, reason: str = "") -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        record(AuditEvent.Action.API_KEY_REVOKED, tenant=api_key.tenant, actor=by,
               target=api_key.name, details={"reason": reason} if reason else None)


def keys_created_by(membership: Membership):
    """The member's keys in the membership's tenant that are not revoked."""
    return ApiKey.unscoped.filter(tenant_id=membership.tenant_id,
                                  created_by_id=membership.user_id, revoked_at__isnull=True)


def revoke_keys_of_leaving_member(membership: Membership, *, by: User) -> None:
    """The member leaves the tenant: their keys are revoked, each with an audit event."""
    for api_key in keys_created_by(membership).select_related("tenant"):
        revoke_api_key(api_key, by=by, reason="creator_removed")


def record_keys_after_role_change(membership: Membership, old_role: str, *, by: User) -> None:
    """The member's role changed: each key whose acting role changes with it gets an audit
    event saying from which role to which it now acts."""
    for api_key in keys_created_by(membership).select_related("tenant"):
        before = narrower_role(api_key.role, old_role)
        after = narrower_role(api_key.role, membership.role)
        if before != after:
            record(AuditEvent.Action.API_KEY_ACCESS_CHANGED, tenant=api_key.tenant, actor=by,
                   target=api_key.name,
                   details={"reason": "creator_role_changed", "key_role": api_key.role,
                            "from": before, "to": after, "member": membership.user.email})


class InvalidApiKey(Exception):
    pass


@dataclass(frozen=True)
class ActiveKey:
    api_key: ApiKey
    role: str  # the role it acts with: its own, at most its creator's current one


def find_active_key(raw_key: str) -> ActiveKey:
    """Look a presented key up across tenants (the key decides the tenant). Refused: a key
    revoked or expired, or whose creator is deactivated or no longer a member."""
    match = KEY_FORMAT.fullmatch(raw_key)
    if match is None:
        raise InvalidApiKey
    now = timezone.now()
    member_role = Membership.unscoped.filter(
        tenant_id=OuterRef("tenant_id"), user_id=OuterRef("created_by_id")).values("role")[:1]
    api_key = (
        ApiKey.unscoped.select_related("tenant", "created_by")
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now),
                prefix=match["prefix"], revoked_at__isnull=True)
        .annotate(member_role=Subquery(member_role))
        .first()
    )
    if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash(raw_key)):
        raise InvalidApiKey
    if not api_key.created_by.is_active or api_key.member_role is None:
        raise InvalidApiKey
    ApiKey.unscoped.filter(pk=api_key.pk).update(last_used_at=now)
    return ActiveKey(api_key=api_key, role=narrower_role(api_key.role, api_key.member_role))


def acting_roles(keys) -> dict[int, str]:
    """For the key list: the role each key acts with now (its creator's current role caps
    it; a creator who left makes it act as nothing, shown as "")."""
    roles = dict(Membership.objects.filter(user_id__in={k.created_by_id for k in keys})
                 .values_list("user_id", "role"))
    return {k.pk: narrower_role(k.role, roles[k.created_by_id])
            if k.created_by_id in roles else "" for k in keys}


def presented_key(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() != HEADER_SCHEME.lower():
        return None
    return value.strip()


def key_from_request(request: HttpRequest) -> ActiveKey | None:
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
                _("This API key is not valid: it was revoked or has expired, or the person "
                  "who created it no longer belongs to the company. Create a new key in the "
                  "portal.")
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
