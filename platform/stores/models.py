"""A store: one tenant's shop on one marketplace site, with its authorization and health."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Func, Value
from django.utils.translation import gettext_lazy as _

from marketplaces.sites import Site, get_site, site_choices
from portal.encryption import EncryptedTextField
from tenants.scope import TenantOwnedModel


class Store(TenantOwnedModel):
    class Status(models.TextChoices):
        AWAITING_AUTHORIZATION = "awaiting_authorization", _("Awaiting authorization")
        CONNECTED = "connected", _("Connected")
        SYNCING = "syncing", _("Syncing")
        HEALTHY = "healthy", _("Connected & Syncing")
        STALE = "stale", _("Connected, no recent sync")
        TOKEN_EXPIRED = "token_expired", _("Token expired")
        PERMISSION_DENIED = "permission_denied", _("Permission denied")
        IP_NOT_WHITELISTED = "ip_not_whitelisted", _("IP not whitelisted")
        REVOKED = "revoked", _("Revoked")
        ERROR = "error", _("Marketplace error")

    site_code = models.CharField(_("marketplace site"), max_length=30, choices=site_choices())
    display_name = models.CharField(_("store name"), max_length=200)
    shop_id = models.CharField(_("shop ID"), max_length=64, blank=True,
                               help_text=_("The marketplace's seller or shop ID."))
    access_token = EncryptedTextField(blank=True)
    token_expires_at = models.DateTimeField(_("token expires at"), null=True, blank=True)
    token_scopes = models.JSONField(_("token scopes"), default=list, blank=True)
    authorized_at = models.DateTimeField(_("authorized at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=30, choices=Status.choices,
                              default=Status.AWAITING_AUTHORIZATION)
    last_error_code = models.CharField(_("last error code"), max_length=40, blank=True)
    last_error_message = models.TextField(_("last error message"), blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    last_synced_at = models.DateTimeField(_("last successful sync"), null=True, blank=True)
    expiry_warning_sent_at = models.DateTimeField(
        _("expiry warning sent at"), null=True, blank=True,
        help_text=_("When the owners were warned that this token expires soon (once per token)."))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    archived_at = models.DateTimeField(
        _("archived at"), null=True, blank=True,
        help_text=_("An archived store is kept for billing history and the audit trail but "
                    "hidden from lists and selections."))
    archived_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["site_code", "display_name"]
        constraints = [
            # One store per shop and marketplace in a tenant, whatever site it was added
            # under ("temu-us" and "temu-ca" are both Temu): archived stores do not count.
            models.UniqueConstraint(
                "tenant", Func(F("site_code"), Value("-"), Value(1), function="split_part"),
                "shop_id", condition=~models.Q(shop_id="") & models.Q(archived_at__isnull=True),
                name="one_store_per_shop_and_marketplace"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.site.label})"

    @property
    def site(self) -> Site:
        return get_site(self.site_code)

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def budget_key(self) -> str:
        """Identifies the store for the shared marketplace request budget (marketplaces.limits)."""
        return str(self.pk)


# Why a store's status changed, stored as a code with its parameters (JSON in `note`,
# {"code": "stale_sync", "hours": 48}) and translated when shown, so each reader sees it in
# their own language. Free text (a person's revocation note, the marketplace's own message)
# stays text; rows written before codes hold translated text and are shown as they are.
STATUS_NOTES = {
    "authorized": _("Authorized"),
    "reauthorized": _("Re-authorized"),
    "revoked": _("Authorization revoked"),
    "archived": _("Archived"),
    "token_ended": _("The token's validity ended."),
    "stale_sync": _("No successful sync within %(hours)s hours."),
}


def status_note(code: str, **params: object) -> str:
    """The `note` value for a coded reason."""
    import json

    assert code in STATUS_NOTES, code
    return json.dumps({"code": code, **params}, sort_keys=True)


class StoreStatusChange(TenantOwnedModel):
    """History of a store's status: when, from what, to what, and why."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=30, choices=Store.Status.choices, blank=True)
    to_status = models.CharField(max_length=30, choices=Store.Status.choices)
    error_code = models.CharField(max_length=40, blank=True)
    note = models.TextField(blank=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("store status change")
        verbose_name_plural = _("store status changes")
        ordering = ["-changed_at", "-id"]

    @property
    def note_text(self) -> str:
        """The reason in the reader's language (see STATUS_NOTES)."""
        import json

        if not self.note.startswith("{"):
            return self.note
        try:
            params = json.loads(self.note)
        except ValueError:
            return self.note
        message = STATUS_NOTES.get(params.pop("code", ""))
        return str(message) % params if message is not None else self.note
