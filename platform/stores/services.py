"""Writes about stores: authorization, status and health. Views, the API, the catalog sync and
the housekeeping schedule call these.

The catalog sync reports through exactly three functions: `mark_syncing(store)` before it
starts, `mark_synced(store)` when a sync succeeded, and `apply_marketplace_error(store, error)`
when the marketplace refused or failed a call.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.services import record
from kernel.mail import send_in_both_languages
from marketplaces.connectors import Connector, MarketplaceError, TokenGrant, connector_for
from marketplaces.sites import MARKETPLACE_NAMES, SITES
from portal.encryption import decrypt, encrypt
from portal.error_codes import explain
from stores.models import Store, StoreStatusChange, status_note
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

    def __init__(self, message: str, *, code: str = "store_error", field: str = "",
                 details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.details = details or {}


def _require_active_tenant(tenant: Tenant) -> None:
    if not tenant.is_active:
        raise StoreError(_("Your company is not active (pending verification or suspended), so "
                           "stores cannot be authorized or changed."), code="tenant_not_active")


def connector_for_store(store: Store) -> Connector:
    """The marketplace connector acting for this store with its token and request budget."""
    return connector_for(store.site, store.access_token, store_key=store.budget_key)


# A code is single use: when it was for another site than the one chosen, the token it gave
# is kept (encrypted, for PENDING_GRANT_SECONDS) so that the seller can submit the same code
# again with the site the marketplace named.
PENDING_GRANT_SECONDS = 15 * 60


def _pending_key(tenant_id: int, code: str) -> str:
    return f"stores:pending-grant:{tenant_id}:{hashlib.sha256(code.encode()).hexdigest()}"


def _keep_pending(tenant_id: int, code: str, grant: TokenGrant) -> None:
    payload = {**asdict(grant), "expires_at": grant.expires_at.isoformat()}
    try:
        cache.set(_pending_key(tenant_id, code), encrypt(json.dumps(payload)),
                  PENDING_GRANT_SECONDS)
    except Exception:  # the cache is down: the seller generates a new code instead
        logger.exception("Could not keep the token of a code for another site")


def _take_pending(tenant_id: int, code: str) -> TokenGrant | None:
    try:
        value = cache.get(_pending_key(tenant_id, code))
        if value is None:
            return None
        cache.delete(_pending_key(tenant_id, code))
        payload = json.loads(decrypt(value))
    except Exception:
        logger.exception("Could not read the kept token of a code")
        return None
    return TokenGrant(**{**payload, "expires_at": datetime.fromisoformat(payload["expires_at"])})


def _exchange_code(site_code: str, authorization_code: str, *, tenant_id: int,
                   store_key: str = "", check_site: bool = True) -> TokenGrant:
    """The token of a seller-center code, for a shop the marketplace says is on `site_code`.

    A code for a shop on another site is refused (code "wrong_site", on the site field) with
    the site to choose; its token is kept, so the same code works with that site."""
    site = SITES.get(site_code)
    if site is None:
        raise StoreError(_("Choose one of the marketplace sites in the list."),
                         code="unknown_site", field="site_code")
    code = authorization_code.strip()
    if not code:
        raise StoreError(_("Paste the authorization code from the seller center."),
                         code=AUTH_CODE_INVALID, field="authorization_code")
    grant = _take_pending(tenant_id, code)
    if grant is None:
        try:
            grant = connector_for(site, store_key=store_key).create_token(code)
        except MarketplaceError as error:
            logger.warning("Authorization code exchange failed on %s: %s (request %s)",
                           site_code, error.code, error.request_id or "-")
            raise StoreError(explain(error.code), code=error.code,
                             field="authorization_code") from error
    if check_site and grant.site_code != site_code:
        _refuse_unsupported_site(grant, site_code)
        _keep_pending(tenant_id, code, grant)
        raise _wrong_site(grant, site_code)
    return grant


def _refuse_unsupported_site(grant: TokenGrant, site_code: str) -> None:
    """A grant for a site we do not offer: nothing to choose instead (StoreError)."""
    if grant.site_code:
        return
    marketplace = MARKETPLACE_NAMES[SITES[site_code].marketplace]
    raise StoreError(
        _("This code belongs to shop %(shop)s on a %(marketplace)s site we do not offer yet "
          "(the marketplace says region %(region)s). Ask ISV support.")
        % {"shop": _shop_text(grant), "marketplace": marketplace, "region": grant.region},
        code="unsupported_site", field="site_code")


def _shop_text(grant: TokenGrant) -> str:
    return f"{grant.shop_id} “{grant.shop_name}”" if grant.shop_name else grant.shop_id


def _wrong_site(grant: TokenGrant, chosen: str) -> StoreError:
    actual = SITES[grant.site_code]
    return StoreError(
        _("This code belongs to shop %(shop)s on %(actual)s, not %(chosen)s: choose %(actual)s "
          "as the site and submit the same code again.")
        % {"shop": _shop_text(grant), "actual": actual.label, "chosen": SITES[chosen].label},
        code="wrong_site", field="site_code", details={"site_code": actual.code,
                                                       "shop_id": grant.shop_id})


def _same_shop(tenant: Tenant, site_code: str, shop_id: str) -> Store | None:
    """The tenant's store of this shop on the site's marketplace, under any site: the one in
    use before an archived one."""
    marketplace = SITES[site_code].marketplace
    codes = [code for code, site in SITES.items() if site.marketplace == marketplace]
    return (Store.unscoped.filter(tenant=tenant, shop_id=shop_id, site_code__in=codes)
            .order_by(F("archived_at").desc(nulls_first=True), "-pk").first())


# Authorization ----------------------------------------------------------------------------

def add_store(*, tenant: Tenant, site_code: str, authorization_code: str, by: User) -> Store:
    """Exchange a seller-center authorization code and connect the shop it belongs to.

    Runs inside the tenant's scope. The site is the one the marketplace says the shop is on:
    a code for another site is refused with the site to choose. A shop already connected (on
    any site of the marketplace) is refused; a shop whose store was revoked or archived is
    connected again in place (its history continues)."""
    _require_active_tenant(tenant)
    grant = _exchange_code(site_code, authorization_code, tenant_id=tenant.pk)
    existing = _same_shop(tenant, site_code, grant.shop_id)
    if existing is not None:
        if existing.site_code != site_code:  # added under the wrong site before the check
            raise StoreError(
                _("The shop %(shop)s is connected as “%(store)s” under %(site)s, which is not "
                  "its site. Revoke and archive that store, then add the shop again.")
                % {"shop": grant.shop_id, "store": existing.display_name,
                   "site": existing.site.label},
                code="store_exists", field="authorization_code")
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
            set_status(store, Status.CONNECTED, note=status_note("authorized"), by=by)
    except IntegrityError:  # the same shop added at the same moment by someone else
        raise StoreError(_("This shop was just connected by someone else; reload the page."),
                         code="store_exists", field="authorization_code") from None
    record(AuditEvent.Action.STORE_AUTHORIZED, tenant=tenant, actor=by, target=str(store),
           details={"site": site_code, "shop_id": grant.shop_id})
    return store


def reauthorize_store(store: Store, *, authorization_code: str, by: User) -> Store:
    """Replace the store's token in place with one from a new authorization code."""
    _require_active_tenant(store.tenant)
    _refuse_archived(store)
    grant = _exchange_code(store.site_code, authorization_code, tenant_id=store.tenant_id,
                           store_key=store.budget_key, check_site=False)
    if store.shop_id and grant.shop_id != store.shop_id:
        raise StoreError(
            _("This code belongs to shop %(other)s, but this store is shop %(shop)s. Sign in to "
              "the seller center as the right shop and generate a code there.")
            % {"other": grant.shop_id, "shop": store.shop_id},
            code="wrong_shop", field="authorization_code")
    if grant.site_code != store.site_code:  # a store added under the wrong site before
        raise StoreError(
            _("The marketplace says shop %(shop)s is on %(actual)s, but this store was added "
              "under %(site)s. Revoke and archive this store, then add the shop under "
              "%(actual)s.")
            % {"shop": _shop_text(grant),
               "actual": SITES[grant.site_code].label if grant.site_code else grant.region,
               "site": store.site.label},
            code="wrong_site", field="authorization_code",
            details={"site_code": grant.site_code, "shop_id": grant.shop_id})
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
        store.archived_at, store.archived_by = None, None  # the shop is back: so is its store
        store.save(update_fields=[
            "access_token", "token_expires_at", "token_scopes", "shop_id", "display_name",
            "authorized_at", "expiry_warning_sent_at", "last_error_code", "last_error_message",
            "last_error_at", "archived_at", "archived_by",
        ])
        set_status(store, Status.CONNECTED, note=status_note("reauthorized"), by=by)
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
        set_status(store, Status.REVOKED, note=note or status_note("revoked"), by=by)
    record(AuditEvent.Action.STORE_REVOKED, tenant=store.tenant, actor=by, target=str(store),
           details={"site": store.site_code, "shop_id": store.shop_id})


def _refuse_archived(store: Store) -> None:
    if store.archived_at is not None:
        raise StoreError(_("This store is archived. Add its shop again to use it."),
                         code="store_archived")


def archive_store(store: Store, *, by: User) -> Store:
    """Hide a revoked store from every list and selection. It is kept, with its catalog,
    jobs, usage and statements, for billing history and the audit trail; adding its shop
    again brings it back. Only a revoked store without a running subscription can be
    archived (the licence of a store nobody sees must not go on being billed)."""
    from billing import quota  # billing builds on stores: imported when used

    if store.archived_at is not None:
        return store
    if store.status != Status.REVOKED:
        raise StoreError(_("Revoke the store's authorization first; then it can be archived."),
                         code="store_not_revoked")
    subscription = quota.current_subscription(store, quota.local_day(store.tenant))
    if subscription is not None:
        raise StoreError(
            _("The store has a subscription running until %(date)s. Ask ISV sales to cancel "
              "it first, so that no licence is billed for an archived store.")
            % {"date": subscription.ends_on}, code="store_subscribed")
    with transaction.atomic():
        store.archived_at, store.archived_by = timezone.now(), by
        store.save(update_fields=["archived_at", "archived_by"])
        StoreStatusChange.unscoped.create(
            tenant_id=store.tenant_id, store=store, from_status=store.status,
            to_status=store.status, note=status_note("archived"), changed_by=by)
        record(AuditEvent.Action.STORE_ARCHIVED, tenant=store.tenant, actor=by, target=str(store),
               details={"site": store.site_code, "shop_id": store.shop_id})
    return store


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
    if error.code == TOKEN_EXPIRED:
        _end_token(store)
    if store.status != Status.REVOKED:
        set_status(store, ERROR_STATUS.get(error.code, Status.ERROR), error_code=error.code,
                   note=error.message)
    return store.status


def _end_token(store: Store) -> None:
    """The marketplace says the token no longer works: it ended now at the latest, whatever
    expiry it was given with. The token's validity and the store's status then agree."""
    now = timezone.now()
    if store.token_expires_at is None or store.token_expires_at > now:
        store.token_expires_at = now
        store.save(update_fields=["token_expires_at"])


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
                          note=status_note("token_ended"))
    if new_status == Status.STALE and store.status != Status.STALE:
        return set_status(store, new_status, note=status_note(
            "stale_sync", hours=settings.STORE_STALE_AFTER_HOURS))
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
    send_in_both_languages("stores/email/token_expiring", {
        "tenant": tenant, "stores": stores, "count": len(stores), "link": link,
    }, recipients, zone=tenant.zone)
