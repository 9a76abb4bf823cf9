"""Users, tenants (seller companies), memberships, invitations and API keys."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tenants.roles import KeyScope, StaffRole, TenantRole
from tenants.scope import TenantOwnedModel


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("%(value)s is not a known time zone; use a name such as Asia/Shanghai."),
            params={"value": value},
        )


class EmailUserManager(UserManager):
    def _create_user(self, username, email, password, **extra_fields):
        email = self.normalize_email(email)
        user = self.model(email=email, **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email=None, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(None, email, password, **extra_fields)

    def create_superuser(self, email=None, password=None, **extra_fields):
        extra_fields.setdefault("staff_role", StaffRole.PLATFORM_ADMIN)
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(None, email, password, **extra_fields)


class User(AbstractUser):
    """A person who signs in: a seller's member, or ISV staff (never both roles at once)."""

    username = None
    email = models.EmailField(_("e-mail address"), unique=True)
    name = models.CharField(pgettext_lazy("person", "name"), max_length=150, blank=True)
    staff_role = models.CharField(
        _("ISV staff role"), max_length=20, choices=StaffRole.choices, blank=True,
        help_text=_("Leave empty for seller users."),
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []
    objects = EmailUserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.name or self.email

    @property
    def is_isv_staff(self) -> bool:
        return bool(self.staff_role) and self.is_active


class Tenant(models.Model):
    """A seller company. Everything a seller owns hangs off one tenant."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending verification")
        REFUSED = "refused", _("Verification refused")
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")

    # What staff check against the documents: changing one of these on a verified company
    # sends that field back to verification.
    VERIFIED_FIELDS = ("name", "licence_number")

    name = models.CharField(_("company name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.PENDING)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai",
                                 validators=[validate_time_zone],
                                 help_text=_("Daily quotas start at midnight in this time zone."))
    licence_number = models.CharField(_("business licence number"), max_length=64, blank=True)
    legal_representative = models.CharField(_("legal representative"), max_length=100, blank=True)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("verified by"),
                                    null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    suspension_reason = models.TextField(_("suspension reason"), blank=True)
    refusal_reason = models.TextField(_("reason verification was refused"), blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    # The values of VERIFIED_FIELDS as staff last verified them, and the fields changed since.
    verified_values = models.JSONField(_("verified values"), default=dict, blank=True)
    fields_to_verify = models.JSONField(_("fields to verify again"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def awaits_verification(self) -> bool:
        """Staff have something to check: a new company, or changed verified fields."""
        return self.status == self.Status.PENDING or bool(self.fields_to_verify)

    def get_fields_to_verify_display(self) -> str:
        from django.utils.translation import gettext

        return gettext(", ").join(str(self._meta.get_field(name).verbose_name)
                                  for name in self.fields_to_verify)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


def verification_document_path(instance: VerificationDocument, filename: str) -> str:
    return f"verification/{instance.tenant_id}/{filename}"


class VerificationDocument(TenantOwnedModel):
    """A scan the seller uploads to prove the business: licence, ID, bank account."""

    class Kind(models.TextChoices):
        BUSINESS_LICENCE = "business_licence", _("Business licence")
        LEGAL_REPRESENTATIVE_ID = "legal_rep_id", _("Legal representative ID")
        BANK_ACCOUNT = "bank_account", _("Company bank account")

    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to=verification_document_path)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("verification document")
        verbose_name_plural = _("verification documents")
        ordering = ["-uploaded_at"]


class Membership(TenantOwnedModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=TenantRole.choices)
    created_at = models.DateTimeField(_("joined at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="one_membership_per_tenant"),
        ]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant_id} ({self.role})"


class Invitation(TenantOwnedModel):
    """An e-mailed invitation to join a tenant. Only the token's hash is stored."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        REVOKED = "revoked", _("Revoked")
        EXPIRED = "expired", _("Expired")

    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=20, choices=TenantRole.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.PENDING)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(_("sent at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "email"],
                                    condition=models.Q(status="pending"),
                                    name="one_pending_invitation_per_email"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_usable(self) -> bool:
        return self.status == self.Status.PENDING and self.expires_at > timezone.now()


class ApiKey(TenantOwnedModel):
    """A tenant's key for programs (ERPs). Shown once; only its hash is stored."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    role = models.CharField(_("role"), max_length=20, choices=TenantRole.choices,
                            default=TenantRole.OPERATOR)
    # Empty: everything the role allows; else only reading and what the scopes name.
    scopes = models.JSONField(_("scopes"), default=list, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def get_scopes_display(self) -> list[str]:
        return [str(KeyScope(scope).label) for scope in self.scopes if scope in KeyScope.values]
