"""Writes about stores: authorization, status and health. Views, the API, the catalog sync and
the housekeeping schedule call these.

The catalog sync reports through exactly three functions: `mark_syncing(store)` before it
starts, `mark_synced(store)` when a sync succeeded, and `apply_marketplace_error(store, error)`
when the marketplace refused or failed a call.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.services import record
from marketplaces.connectors import Connector, MarketplaceError, TokenGrant, connector_for
from marketplaces.sites import SITES
from portal.error_codes import explain
from stores.models import Store, StoreStatusChange
from stores.selectors import TOKEN_WARNING_WINDOW
from tenants.models import Membership, Tenant, User
from tenants.roles import TenantRole
from tenants.scope import tenant_scope

logger = logging.getLogger(__name__)

Status = Store.Status

AUTH_CODE_INVALID = "ERR_AUTH_CODE_INVALID"
TOKEN_EXPIRED = "ERR_TOKEN_EXPIRED"

# What a marketplace error does to the store; every other code puts it in ERROR.
ERROR_STATUS = {
    "ERR_TEMU_403": Status.PERMISSION_DENIED,
    TOKEN_EXPIRED: Status.TOKEN_EXPIRED,
    "ERR_IP_NOT_WHITELISTED": Status.IP_NOT_WHITELISTED,
}

# Statuses in which the store holds a token that works, as far as we know.
CONNECTED_STATUSES = frozenset({Status.CONNECTED, Status.SYNCING, Status.HEALTHY, Status.STALE})
# Statuses the hourly health check leaves alone: there is no token to check.
WITHOUT_TOKEN = frozenset({Status.AWAITING_AUTHORIZATION, Status.REVOKED})



class StoreError(Exception):
    """A store action that cannot be carried out; the message says what to do instead.

    `code` is an error-catalogue code (portal.error_codes) when there is one, or a short
    machine-readable reason (e.g. "store_exists")."""

    def __init__(self, message: str, *, code: str = "store_error", field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


def _require_active_tenant(tenant: Tenant) -> None:
    if not tenant.is_active:
        raise StoreError(_("Your company is not active (pending verification or suspended), so "
                           "stores cannot be authorized or changed."), code="tenant_not_active")


def connector_for_store(store: Store) -> Connector:
    """The marketplace connector acting for this store with its token and request budget."""
    return connector_for(store.site, store.access_token, store_key=store.budget_key)


def _exchange_code(site_code: str, authorization_code: str, *, store_key: str = "") -> TokenGrant:
    site = SITES.get(site_code)
    if site is None:
        raise StoreError(_("Choose one of the marketplace sites in the list."),
                         code="unknown_site", field="site_code")
    code = authorization_code.strip()
    if not code:
        raise StoreError(_("Paste the authorization code from the seller center."),
                         code=AUTH_CODE_INVALID, field="authorization_code")
    try:
        return connector_for(site, store_key=store_key).create_token(code)
    except MarketplaceError as error:
        logger.warning("Authorization code exchange failed on %s: %s (request %s)",
                       site_code, error.code, error.request_id or "-")
        raise StoreError(explain(error.code), code=error.code,
                         field="authorization_code") from error


# Authorization ----------------------------------------------------------------------------

def add_store(*, tenant: Tenant, site_code: str, authorization_code: str, by: User) -> Store:
    """Exchange a seller-center authorization code and connect the shop it belongs to.

    Runs inside the tenant's scope. A shop already connected on the same site is refused;
    a shop whose store was revoked is connected again in place (its history continues)."""
    _require_active_tenant(tenant)
    grant = _exchange_code(site_code, authorization_code)
    existing = Store.objects.filter(site_code=site_code, shop_id=grant.shop_id).first()
    if existing is not None:
        if existing.status != Status.REVOKED:
            raise StoreError(
                _("The shop %(shop)s on %(site)s is already connected as “%(store)s”. "
                  "To renew its token, re-authorize that store instead.")
                % {"shop": grant.shop_id, "site": existing.site.label,
                   "store": existing.display_name},
                code="store_exists", field="authorization_code")
        return _apply_grant(existing, grant, by=by, action=AuditEvent.Action.STORE_AUTHORIZED)
    try:
        with transaction.atomic():
            store = Store.objects.create(
                tenant=tenant, site_code=site_code, shop_id=grant.shop_id,
                display_name=(grant.shop_name or grant.shop_id)[:200],
                access_token=grant.access_token, token_expires_at=grant.expires_at,
                token_scopes=list(grant.scopes), authorized_at=timezone.now(),
                status=Status.AWAITING_AUTHORIZATION, created_by=by,
            )
            set_status(store, Status.CONNECTED, note=_("Authorized"), by=by)
    except IntegrityError:  # the same shop added at the same moment by someone else
        raise StoreError(_("This shop was just connected by someone else; reload the page."),
                         code="store_exists", field="authorization_code") from None
    record(AuditEvent.Action.STORE_AUTHORIZED, tenant=tenant, actor=by, target=str(store),
           details={"site": site_code, "shop_id": grant.shop_id})
    return store


def reauthorize_store(store: Store, *, authorization_code: str, by: User) -> Store:
    """Replace the store's token in place with one from a new authorization code."""
    _require_active_tenant(store.tenant)
    grant = _exchange_code(store.site_code, authorization_code, store_key=store.budget_key)
    if store.shop_id and grant.shop_id != store.shop_id:
        raise StoreError(
            _("This code belongs to shop %(other)s, but this store is shop %(shop)s. Sign in to "
              "the seller center as the right shop and generate a code there.")
            % {"other": grant.shop_id, "shop": store.shop_id},
            code="wrong_shop", field="authorization_code")
    return _apply_grant(store, grant, by=by, action=AuditEvent.Action.STORE_REAUTHORIZED)


def _apply_grant(store: Store, grant: TokenGrant, *, by: User, action: str) -> Store:
    with transaction.atomic():
        store.access_token = grant.access_token
        store.token_expires_at = grant.expires_at
        store.token_scopes = list(grant.scopes)
        store.shop_id = grant.shop_id
        store.display_name = (grant.shop_name or store.display_name or grant.shop_id)[:200]
        store.authorized_at = timezone.now()
        store.expiry_warning_sent_at = None  # a new token gets its own warning
        store.last_error_code, store.last_error_message, store.last_error_at = "", "", None
        store.save(update_fields=[
            "access_token", "token_expires_at", "token_scopes", "shop_id", "display_name",
            "authorized_at", "expiry_warning_sent_at", "last_error_code", "last_error_message",
            "last_error_at",
        ])
        set_status(store, Status.CONNECTED, note=_("Re-authorized"), by=by)
    record(action, tenant=store.tenant, actor=by, target=str(store),
           details={"site": store.site_code, "shop_id": store.shop_id})
    return store


def revoke_store(store: Store, *, by: User, note: str = "") -> None:
    """Disconnect: forget the token. The store and its catalog stay; re-authorizing revives it.

    The marketplace's own authorization is cancelled by the seller in the seller center."""
    _require_active_tenant(store.tenant)
    if store.status == Status.REVOKED:
        return
    with transaction.atomic():
        store.access_token = ""
        store.token_expires_at = None
        store.token_scopes = []
        store.save(update_fields=["access_token", "token_expires_at", "token_scopes"])
        set_status(store, Status.REVOKED, note=note or _("Authorization revoked"), by=by)
    record(AuditEvent.Action.STORE_REVOKED, tenant=store.tenant, actor=by, target=str(store),
           details={"site": store.site_code, "shop_id": store.shop_id})


# Status ---------------------------------------------------------------------------------

def set_status(store: Store, new_status: str, *, error_code: str = "", note: str = "",
               by: User | None = None) -> bool:
    """Move the store to `new_status`, keeping the change in its history.

    Nothing is written when the status does not change. Returns whether it changed."""
    new_status = Status(new_status)
    with transaction.atomic():
        current = (Store.unscoped.select_for_update()
                   .values_list("status", flat=True).get(pk=store.pk))
        store.status = current
        if current == new_status:
            return False
        Store.unscoped.filter(pk=store.pk).update(status=new_status)
        StoreStatusChange.unscoped.create(
            tenant_id=store.tenant_id, store=store, from_status=current, to_status=new_status,
            error_code=error_code, note=note, changed_by=by,
        )
    store.status = new_status
    return True


def mark_syncing(store: Store) -> None:
    """A catalog sync starts. Refuses a store with no usable token (StoreError)."""
    if store.status in WITHOUT_TOKEN or not store.access_token:
        raise StoreError(_("The store is not authorized; authorize it before syncing."),
                         code="store_not_authorized")
    if _token_has_expired(store, timezone.now()):
        set_status(store, Status.TOKEN_EXPIRED, error_code=TOKEN_EXPIRED)
        _remember_error(store, TOKEN_EXPIRED, "")
        raise StoreError(explain(TOKEN_EXPIRED), code=TOKEN_EXPIRED)
    set_status(store, Status.SYNCING)


def mark_synced(store: Store, *, at: datetime | None = None) -> None:
    """A catalog sync succeeded: the store is healthy ("Connected & Syncing")."""
    store.last_synced_at = at or timezone.now()
    store.last_error_code, store.last_error_message, store.last_error_at = "", "", None
    store.save(update_fields=["last_synced_at", "last_error_code", "last_error_message",
                              "last_error_at"])
    if store.status != Status.REVOKED:
        set_status(store, Status.HEALTHY)


def apply_marketplace_error(store: Store, error: MarketplaceError) -> str:
    """Record a marketplace failure on the store and move it to the matching status:
    ERR_TEMU_403 -> permission denied, ERR_TOKEN_EXPIRED -> token expired,
    ERR_IP_NOT_WHITELISTED -> IP not whitelisted, anything else -> marketplace error.
    A revoked store stays revoked. Returns the store's status."""
    logger.warning("Store %s (%s) marketplace error %s: %s (request %s)", store.pk,
                   store.site_code, error.code, error.message, error.request_id or "-")
    _remember_error(store, error.code, error.message)
    if store.status != Status.REVOKED:
        set_status(store, ERROR_STATUS.get(error.code, Status.ERROR), error_code=error.code,
                   note=error.message)
    return store.status


def _remember_error(store: Store, code: str, message: str) -> None:
    store.last_error_code, store.last_error_message = code, message
    store.last_error_at = timezone.now()
    store.save(update_fields=["last_error_code", "last_error_message", "last_error_at"])


# Health ---------------------------------------------------------------------------------

def _token_has_expired(store: Store, now: datetime) -> bool:
    return store.token_expires_at is not None and store.token_expires_at <= now


def health_of(store: Store, now: datetime | None = None) -> str:
    """The status the store should have now, judged from its token and its last sync.

    Token past its expiry: token expired. Otherwise, for a connected store: healthy when the
    last sync succeeded within STORE_STALE_AFTER_HOURS, stale when it did not (or when it was
    authorized that long ago and never synced). Error states wait for a sync or a
    re-authorization to clear them."""
    now = now or timezone.now()
    if store.status in WITHOUT_TOKEN:
        return store.status
    if _token_has_expired(store, now):
        return Status.TOKEN_EXPIRED
    if store.status not in CONNECTED_STATUSES:
        return store.status
    stale_before = now - timedelta(hours=settings.STORE_STALE_AFTER_HOURS)
    if store.last_synced_at and store.last_synced_at > stale_before:
        return Status.SYNCING if store.status == Status.SYNCING else Status.HEALTHY
    reference = store.last_synced_at or store.authorized_at or store.created_at
    if reference and reference > stale_before:
        return store.status  # just authorized, or a first sync is running
    return Status.STALE


def refresh_health(store: Store, now: datetime | None = None) -> bool:
    """Apply health_of(); returns whether the status changed."""
    new_status = health_of(store, now)
    if new_status == Status.TOKEN_EXPIRED and store.status != Status.TOKEN_EXPIRED:
        _remember_error(store, TOKEN_EXPIRED, "")
        return set_status(store, new_status, error_code=TOKEN_EXPIRED,
                          note=_("The token's validity ended."))
    if new_status == Status.STALE and store.status != Status.STALE:
        return set_status(store, new_status, note=_("No successful sync within %(hours)s hours.")
                          % {"hours": settings.STORE_STALE_AFTER_HOURS})
    return set_status(store, new_status)


@dataclass(frozen=True)
class HealthCheckResult:
    checked: int
    changed: int
    warned: int


def check_store_health() -> HealthCheckResult:
    """Housekeeping (hourly django-q2 schedule): across every tenant, mark stores stale or their
    token expired, and warn owners once per token that expires within 24 hours."""
    now = timezone.now()
    # Crossing tenants on purpose: this job looks after every tenant's stores.
    stores = (Store.unscoped.select_related("tenant")
              .exclude(status__in=WITHOUT_TOKEN).order_by("tenant_id", "pk"))
    by_tenant: dict[int, list[Store]] = defaultdict(list)
    for store in stores:
        by_tenant[store.tenant_id].append(store)
    checked = changed = warned = 0
    for tenant_stores in by_tenant.values():
        tenant = tenant_stores[0].tenant
        with tenant_scope(tenant):
            for store in tenant_stores:
                checked += 1
                try:
                    changed += refresh_health(store, now)
                except Exception:  # one broken row must not stop the others
                    logger.exception("Health check failed for store %s", store.pk)
            try:
                warned += warn_about_expiring_tokens(tenant, tenant_stores, now=now)
            except Exception:  # e.g. the mail server is down: warned again next hour
                logger.exception("Token expiry warning failed for tenant %s", tenant.pk)
    result = HealthCheckResult(checked=checked, changed=changed, warned=warned)
    logger.info("Store health check: %s", result)
    return result


def warn_about_expiring_tokens(tenant: Tenant, stores: list[Store], *,
                               now: datetime | None = None) -> int:
    """E-mail the tenant's owners (Chinese and English) about tokens that expire within 24
    hours and have not been warned about yet. Returns how many stores were included."""
    now = now or timezone.now()
    expiring = [s for s in stores
                if s.expiry_warning_sent_at is None and s.token_expires_at is not None
                and now < s.token_expires_at <= now + TOKEN_WARNING_WINDOW
                and s.status not in WITHOUT_TOKEN]
    if not expiring:
        return 0
    recipients = sorted(Membership.unscoped.filter(
        tenant=tenant, role=TenantRole.OWNER, user__is_active=True,
    ).values_list("user__email", flat=True))
    if recipients:
        _send_expiry_email(tenant, expiring, recipients)
    Store.unscoped.filter(pk__in=[s.pk for s in expiring]).update(expiry_warning_sent_at=now)
    for store in expiring:
        store.expiry_warning_sent_at = now
    return len(expiring)


def _send_expiry_email(tenant: Tenant, stores: list[Store], recipients: list[str]) -> None:
    from django.urls import reverse

    link = settings.SITE_URL.rstrip("/") + reverse("stores")
    bodies = []
    # Most sellers read Chinese first; the e-mail carries both languages.
    with timezone.override(tenant.zone):
        for language in ("zh-hans", "en"):
            with translation.override(language):
                bodies.append(render_to_string("stores/email/token_expiring.txt", {
                    "tenant": tenant, "stores": stores, "link": link,
                }))
        with translation.override("zh-hans"):
            subject = render_to_string("stores/email/token_expiring_subject.txt",
                                       {"tenant": tenant, "count": len(stores)}).strip()
    send_mail(subject, "\n\n----\n\n".join(bodies), None, recipients)
