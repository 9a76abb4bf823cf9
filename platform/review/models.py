"""Review: a person checks every generated item before it is published, and the item's way to
the marketplace (published with the AI-assisted flag, or failed with an error code).

`Review` is one per generation item (it follows the item through regenerations; each decision
is also kept as a `ReviewDecision` row and in the audit trail). `ReviewSettings` holds the
tenant's review rules. `ReviewNotice` remembers that the reviewers were told about a job.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from generation.models import GenerationItem, GenerationJob, InstructionVersion
from stores.models import Store
from tenants.scope import TenantOwnedModel


class ReviewSettings(TenantOwnedModel):
    """A tenant's review rules."""

    require_four_eyes = models.BooleanField(
        _("require four eyes"), default=False,
        help_text=_("The person who started a job cannot approve its items."))
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("review settings")
        verbose_name_plural = _("review settings")
        constraints = [models.UniqueConstraint(fields=["tenant"],
                                               name="one_review_settings_per_tenant")]

    def __str__(self) -> str:
        return f"review settings {self.tenant_id}"


class Review(TenantOwnedModel):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for review")
        APPROVED = "approved", _("Approved")
        EDITED_APPROVED = "edited_approved", _("Edited and approved")
        REJECTED = "rejected", _("Rejected")
        REGENERATION_REQUESTED = "regeneration_requested", _("Sent back for regeneration")
        PUBLISHED = "published", _("Published")
        PUBLISH_FAILED = "publish_failed", _("Publishing failed")

    class Destination(models.TextChoices):
        LISTING = "listing", _("Published to the listing")
        SELLER = "seller", _("For the seller (not published)")

    APPROVED_STATUSES = (Status.APPROVED, Status.EDITED_APPROVED)

    item = models.OneToOneField(GenerationItem, on_delete=models.CASCADE, related_name="review")
    # Copied from the item for the queue's filters and the measures (they never change).
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=30, choices=Status.choices,
                              default=Status.PENDING)
    destination = models.CharField(_("destination"), max_length=10,
                                   choices=Destination.choices, default=Destination.LISTING)
    generation = models.PositiveSmallIntegerField(
        _("generation"), default=1, help_text=_("The item's generation this review is about."))
    ai_content = models.JSONField(_("AI output"), default=dict,
                                  help_text=_("The content as the model wrote it."))
    edited_content = models.JSONField(_("edited content"), null=True, blank=True)

    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("reviewer"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    reject_reason = models.TextField(_("reason for rejection"), blank=True)
    regeneration_note = models.TextField(_("note for regeneration"), blank=True)

    near_duplicate_of = models.ForeignKey(
        GenerationItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("near-duplicate of"))
    near_duplicate_similarity = models.DecimalField(
        _("similarity"), max_digits=5, decimal_places=4, null=True, blank=True)

    publish_pending = models.BooleanField(
        _("publishing queued"), default=False,
        help_text=_("Queued for publishing and not finished yet."))
    publish_queued_at = models.DateTimeField(_("queued for publishing at"), null=True, blank=True)
    publish_queued_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                          on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    publish_attempts = models.PositiveSmallIntegerField(_("publish attempts"), default=0)
    publish_error_code = models.CharField(_("error code"), max_length=40, blank=True)
    publish_error_message = models.TextField(_("error"), blank=True)
    publish_request_id = models.CharField(
        _("marketplace request ID"), max_length=120, blank=True,
        help_text=_("The marketplace's id of the request that published (or refused) it."))
    published_content = models.JSONField(_("published content"), null=True, blank=True)
    # Publish recovery (review.publishing): the attempt that holds the item, until when, and
    # whether a write was sent whose outcome is not known (then the marketplace's current
    # content is read before anything is sent again).
    publish_claim = models.CharField(_("publish attempt"), max_length=32, blank=True)
    publish_lease_expires_at = models.DateTimeField(
        _("publish lease expires at"), null=True, blank=True,
        help_text=_("An attempt that has not finished by then is taken over by housekeeping."))
    publish_takeovers = models.PositiveSmallIntegerField(
        _("publish takeovers"), default=0,
        help_text=_("How often housekeeping took this publication over from an attempt that "
                    "stopped answering (since it was last queued)."))
    publish_write_sent_at = models.DateTimeField(
        _("write sent at"), null=True, blank=True,
        help_text=_("A content update was sent and its outcome is not known yet."))
    publish_check = models.JSONField(
        _("pre-publish check"), null=True, blank=True,
        help_text=_("What our compliance filter and the marketplace's own check found before "
                    "the last publish attempt."))
    ai_share = models.DecimalField(
        _("AI share"), max_digits=5, decimal_places=4, null=True, blank=True,
        help_text=_("Share of the published text that stands unchanged from the AI output."))

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["tenant", "status"], name="review_tenant_status"),
            models.Index(fields=["store", "status"], name="review_store_status"),
            models.Index(fields=["job", "status"], name="review_job_status"),
            models.Index(fields=["publish_lease_expires_at"], name="review_publish_lease",
                         condition=models.Q(publish_pending=True)),
        ]

    def __str__(self) -> str:
        return f"review of item {self.item_id}"

    @property
    def current_content(self) -> dict:
        """What would be (or was) published: the reviewer's edit, else the AI output."""
        return self.edited_content if self.edited_content is not None else self.ai_content

    @property
    def is_approved(self) -> bool:
        return self.status in self.APPROVED_STATUSES

    @property
    def is_near_duplicate(self) -> bool:
        return self.near_duplicate_of_id is not None


class ReviewDecision(TenantOwnedModel):
    """One decision on one generation of an item: the history behind the measures."""

    class Decision(models.TextChoices):
        APPROVED = "approved", _("Approved")
        EDITED_APPROVED = "edited_approved", _("Edited and approved")
        REJECTED = "rejected", _("Rejected")
        REGENERATION_REQUESTED = "regeneration_requested", _("Sent back for regeneration")

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="decisions")
    generation = models.PositiveSmallIntegerField()
    instruction_version = models.ForeignKey(InstructionVersion, null=True, blank=True,
                                            on_delete=models.SET_NULL, related_name="+")
    decision = models.CharField(_("decision"), max_length=30, choices=Decision.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                           verbose_name=_("by"))
    note = models.TextField(_("reason or note"), blank=True)
    decided_at = models.DateTimeField(_("decided at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("review decision")
        verbose_name_plural = _("review decisions")
        ordering = ["decided_at", "id"]
        indexes = [models.Index(fields=["tenant", "by", "decided_at"],
                                name="review_decision_by_time")]

    def __str__(self) -> str:
        return f"{self.decision} #{self.review_id}"


class ReviewNotice(TenantOwnedModel):
    """The tenant's reviewers were told that a job's items wait for review (once per job)."""

    job = models.OneToOneField(GenerationJob, on_delete=models.CASCADE, related_name="+")
    recipients = models.JSONField(default=list)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("review notice")
        verbose_name_plural = _("review notices")

    def __str__(self) -> str:
        return f"notice for job {self.job_id}"


class NearDuplicateBand(TenantOwnedModel):
    """One band of a review text's MinHash signature (see review.services): texts that share
    a band in the same store, kind and language are candidates for the near-duplicate check."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="bands")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    band = models.BigIntegerField()

    class Meta:
        verbose_name = _("near-duplicate band")
        verbose_name_plural = _("near-duplicate bands")
        # The newest texts of a band first (review.services reads only the newest few).
        indexes = [models.Index(fields=["store", "band", "-review"], name="review_band_newest")]

    def __str__(self) -> str:
        return f"{self.review_id}:{self.band}"
