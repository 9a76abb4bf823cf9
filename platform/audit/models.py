"""The audit trail: who did what to which tenant's data, and when. Rows are never changed."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.scope import TenantOwnedModel, TenantScopedManager


class ImmutableQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ValueError("Audit events are immutable.")

    def delete(self):
        raise ValueError("Audit events are immutable.")


class AuditEvent(TenantOwnedModel):
    class Action(models.TextChoices):
        TENANT_CREATED = "tenant.created", _("Tenant created")
        TENANT_VERIFIED = "tenant.verified", _("Tenant verified")
        VERIFICATION_REFUSED = "tenant.verification_refused", _("Verification refused")
        VERIFICATION_RESUBMITTED = ("tenant.verification_resubmitted",
                                    _("Resubmitted for verification"))
        DOCUMENT_UPLOADED = "tenant.document_uploaded", _("Verification document uploaded")
        TENANT_SUSPENDED = "tenant.suspended", _("Tenant suspended")
        TENANT_REACTIVATED = "tenant.reactivated", _("Tenant reactivated")
        MEMBER_INVITED = "member.invited", _("Member invited")
        MEMBER_JOINED = "member.joined", _("Member joined")
        MEMBER_ROLE_CHANGED = "member.role_changed", _("Member role changed")
        MEMBER_REMOVED = "member.removed", _("Member removed")
        INVITATION_REVOKED = "invitation.revoked", _("Invitation revoked")
        API_KEY_CREATED = "api_key.created", _("API key created")
        API_KEY_REVOKED = "api_key.revoked", _("API key revoked")
        API_KEY_ACCESS_CHANGED = "api_key.access_changed", _(
            "API key's role changed with its creator's")
        COMPANY_UPDATED = "company.updated", _("Company details updated")
        STORE_AUTHORIZED = "store.authorized", _("Store authorized")
        STORE_REAUTHORIZED = "store.reauthorized", _("Store re-authorized")
        STORE_REVOKED = "store.revoked", _("Store authorization revoked")
        STORE_ARCHIVED = "store.archived", _("Store archived")
        SUBSCRIPTION_CREATED = "subscription.created", _("Store subscription created")
        SUBSCRIPTION_RENEWED = "subscription.renewed", _("Store subscription renewed")
        SUBSCRIPTION_CANCELLED = "subscription.cancelled", _("Store subscription cancelled")
        OVERAGE_CAP_CHANGED = "subscription.overage_cap", _("Daily overage cap changed")
        SUBSCRIPTION_STATUS_CHANGED = "subscription.status", _("Store subscription status changed")
        INVOICE_PAYMENT_FAILED = "invoice.payment_failed", _("Invoice payment failed")
        INVOICE_PAID = "invoice.paid", _("Invoice paid")
        STATEMENT_DRAWN_UP = "statement.drawn_up", _("Usage statement drawn up")
        STATEMENT_STATUS_CHANGED = "statement.status", _("Usage statement status changed")
        STATEMENT_COMMENTED = "statement.commented", _("Usage statement commented")
        JOB_STARTED = "generation.job_started", _("Generation job started")
        JOB_CANCELLED = "generation.job_cancelled", _("Generation job cancelled")
        JOB_RETRIED = "generation.job_retried", _("Failed items generated again")
        ITEM_REGENERATED = "generation.regeneration_requested", _("Item generated again")
        REVIEW_ENTERED = "review.entered", _("Entered review")
        REVIEW_APPROVED = "review.approved", _("Approved")
        REVIEW_EDITED_APPROVED = "review.edited_approved", _("Edited and approved")
        REVIEW_REJECTED = "review.rejected", _("Rejected")
        REVIEW_SENT_BACK = "review.regeneration_requested", _("Sent back for regeneration")
        REVIEW_SETTINGS_CHANGED = "review.settings_changed", _("Review settings changed")
        PUBLISH_QUEUED = "review.publish_queued", _("Queued for publishing")
        PUBLISHED = "review.published", _("Published with the AI-assisted flag")
        PUBLISH_FAILED = "review.publish_failed", _("Publishing failed")

    # PROTECT: deleting a tenant must not silently erase its trail.
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT)
    # PROTECT: someone with a trail is deactivated, not deleted (the trail is never rewritten).
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("who"), null=True,
                              on_delete=models.PROTECT, related_name="+")
    action = models.CharField(_("action"), max_length=40, choices=Action.choices)
    target = models.CharField(_("target"), max_length=200, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    objects = TenantScopedManager.from_queryset(ImmutableQuerySet)()
    unscoped = models.Manager.from_queryset(ImmutableQuerySet)()  # noqa: DJ012

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("Audit events are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are immutable.")
