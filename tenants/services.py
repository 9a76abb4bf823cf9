"""Writes about tenants: lifecycle, members, invitations. Views and tasks call these."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import capfirst, slugify
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.services import record
from tenants import api_keys
from tenants.models import Invitation, Membership, Tenant, User
from tenants.roles import TenantRole
from tenants.scope import tenant_scope


class TenantError(Exception):
    """A request that cannot be carried out; the message says what to do instead."""


# Tenants ----------------------------------------------------------------------------------

def create_tenant(*, name: str, owner: User, slug: str = "", time_zone: str = "Asia/Shanghai",
                  status: str = Tenant.Status.PENDING) -> Tenant:
    tenant = Tenant.objects.create(name=name, slug=slug or _unique_slug(name),
                                   time_zone=time_zone, status=status)
    Membership.unscoped.create(tenant=tenant, user=owner, role=TenantRole.OWNER)
    return tenant


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "tenant"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def onboard_tenant(*, name: str, owner_email: str, by: User, time_zone: str = "Asia/Shanghai",
                   licence_number: str = "", legal_representative: str = "") -> SentInvitation:
    """ISV staff create a company (pending verification) and invite its first owner."""
    with transaction.atomic():
        tenant = Tenant(name=name.strip(), slug=_unique_slug(name), time_zone=time_zone,
                        licence_number=licence_number.strip(),
                        legal_representative=legal_representative.strip())
        tenant.full_clean()
        tenant.save()
        record(AuditEvent.Action.TENANT_CREATED, tenant=tenant, actor=by, target=tenant.name)
        with tenant_scope(tenant):
            return invite_member(tenant=tenant, email=owner_email, role=TenantRole.OWNER, by=by)


def sign_up_company(*, owner: User, company: str, phone: str) -> Tenant:
    """A seller's own sign-up: the company waits for verification, the person is its owner."""
    tenant = create_tenant(name=company.strip(), owner=owner)
    tenant.contact_phone = phone.strip()
    tenant.save(update_fields=["contact_phone"])
    # No audit row yet: until the owner confirms the e-mail this may be a bot's, which
    # purge_unconfirmed_signups deletes (audit rows are immutable and would keep it).
    return tenant


UNCONFIRMED_SIGNUP_DAYS = 7


def purge_unconfirmed_signups(now=None) -> int:
    """Housekeeping (django-q2 schedule): a company signed up more than a week ago whose
    members never confirmed their e-mail (so never signed in, uploaded or invited anyone) is
    most likely a bot's; it is deleted with those accounts. A company with an audit row
    (anything done in it), a document or an invitation, and one that staff onboarded (no member
    until the invitation is accepted) is left alone."""
    from allauth.account.models import EmailAddress

    from tenants.models import VerificationDocument

    cutoff = (now or timezone.now()) - timedelta(days=UNCONFIRMED_SIGNUP_DAYS)
    candidates = Tenant.objects.filter(status=Tenant.Status.PENDING, verified_at__isnull=True,
                                       created_at__lt=cutoff, membership__isnull=False
                                       ).distinct()
    purged = 0
    for tenant in candidates:
        members = list(Membership.unscoped.filter(tenant=tenant).select_related("user"))
        users = [m.user for m in members]
        if (EmailAddress.objects.filter(user__in=users, verified=True).exists()
                or any(user.last_login or user.is_isv_staff for user in users)
                or VerificationDocument.unscoped.filter(tenant=tenant).exists()
                or Invitation.unscoped.filter(tenant=tenant).exists()
                or AuditEvent.unscoped.filter(tenant=tenant).exists()):
            continue
        with transaction.atomic():
            tenant.delete()
            for user in users:
                if not Membership.unscoped.filter(user=user).exists():
                    user.delete()
        purged += 1
    return purged


def missing_for_verification(tenant: Tenant) -> list[str]:
    """What the seller still has to provide before staff can verify: field and document labels."""
    from tenants.models import VerificationDocument

    missing = [capfirst(str(Tenant._meta.get_field(name).verbose_name))
               for name in ("licence_number", "legal_representative")
               if not getattr(tenant, name).strip()]
    uploaded = set(VerificationDocument.unscoped.filter(tenant=tenant)
                   .values_list("kind", flat=True))
    missing += [str(label) for kind, label in VerificationDocument.Kind.choices
                if kind not in uploaded]
    return missing


def _notify_owners(tenant: Tenant, event: str, reason: str = "") -> None:
    from tenants.tasks import send_tenant_notice

    send_tenant_notice.delay_on_commit(tenant.pk, event, reason)


def verify_tenant(tenant: Tenant, *, by: User) -> None:
    """Verify a new company, or the verified fields it changed since (see update_company)."""
    if not tenant.awaits_verification or tenant.status == Tenant.Status.SUSPENDED:
        raise TenantError(_("This company has nothing waiting for verification."))
    missing = missing_for_verification(tenant)
    if missing:
        raise TenantError(_("Still missing before the company can be verified: %(missing)s.")
                          % {"missing": _(", ").join(missing)})
    rechecked = list(tenant.fields_to_verify)
    if tenant.status == Tenant.Status.PENDING:
        tenant.status = Tenant.Status.ACTIVE
    tenant.verified_by, tenant.verified_at = by, timezone.now()
    tenant.verified_values = {name: getattr(tenant, name) for name in Tenant.VERIFIED_FIELDS}
    tenant.fields_to_verify, tenant.refusal_reason = [], ""
    tenant.save(update_fields=["status", "verified_by", "verified_at", "verified_values",
                               "fields_to_verify", "refusal_reason"])
    record(AuditEvent.Action.TENANT_VERIFIED, tenant=tenant, actor=by, target=tenant.name,
           details={"fields": rechecked} if rechecked else None)
    _notify_owners(tenant, "verified")


def refuse_verification(tenant: Tenant, *, by: User, reason: str) -> None:
    """A new company is refused (it may correct and resubmit); changed verified fields go back
    to the values last verified."""
    if not tenant.awaits_verification or tenant.status == Tenant.Status.SUSPENDED:
        raise TenantError(_("This company has nothing waiting for verification."))
    reason = reason.strip()
    if not reason:
        raise TenantError(_("Give the reason for the refusal; the seller will see it."))
    restored = {}
    if tenant.status == Tenant.Status.PENDING:
        tenant.status = Tenant.Status.REFUSED
    else:
        restored = {name: tenant.verified_values[name] for name in tenant.fields_to_verify
                    if name in tenant.verified_values}
        for name, value in restored.items():
            setattr(tenant, name, value)
    tenant.refusal_reason, tenant.fields_to_verify = reason, []
    tenant.save(update_fields=["status", "refusal_reason", "fields_to_verify",
                               *Tenant.VERIFIED_FIELDS])
    record(AuditEvent.Action.VERIFICATION_REFUSED, tenant=tenant, actor=by, target=tenant.name,
           details={"reason": reason, **restored})
    _notify_owners(tenant, "refused", reason)


def resubmit_for_verification(tenant: Tenant, *, by: User) -> None:
    if tenant.status != Tenant.Status.REFUSED:
        raise TenantError(_("Only a company whose verification was refused can resubmit."))
    tenant.status = Tenant.Status.PENDING
    tenant.save(update_fields=["status"])
    record(AuditEvent.Action.VERIFICATION_RESUBMITTED, tenant=tenant, actor=by,
           target=tenant.name)


def suspend_tenant(tenant: Tenant, *, by: User, reason: str) -> None:
    if tenant.status != Tenant.Status.ACTIVE:
        raise TenantError(_("Only an active tenant can be suspended."))
    if not reason.strip():
        raise TenantError(_("Give the reason for the suspension; the seller will see it."))
    tenant.status, tenant.suspension_reason = Tenant.Status.SUSPENDED, reason.strip()
    tenant.save(update_fields=["status", "suspension_reason"])
    record(AuditEvent.Action.TENANT_SUSPENDED, tenant=tenant, actor=by, target=tenant.name,
           details={"reason": tenant.suspension_reason})
    _notify_owners(tenant, "suspended", tenant.suspension_reason)


def reactivate_tenant(tenant: Tenant, *, by: User) -> None:
    if tenant.status != Tenant.Status.SUSPENDED:
        raise TenantError(_("Only a suspended tenant can be reactivated."))
    tenant.status, tenant.suspension_reason = Tenant.Status.ACTIVE, ""
    tenant.save(update_fields=["status", "suspension_reason"])
    record(AuditEvent.Action.TENANT_REACTIVATED, tenant=tenant, actor=by, target=tenant.name)
    _notify_owners(tenant, "reactivated")


def update_company(tenant: Tenant, *, by: User, **fields: str) -> None:
    """A verified company that changes its name or licence number has those fields verified
    again (it keeps working meanwhile; a refusal restores the verified values)."""
    for name, value in fields.items():
        setattr(tenant, name, value)
    tenant.full_clean()
    update = list(fields)
    if tenant.verified_at is not None and tenant.status != Tenant.Status.PENDING:
        verified, pending = tenant.verified_values or {}, set(tenant.fields_to_verify)
        for name in set(fields) & set(Tenant.VERIFIED_FIELDS):
            if name in verified and getattr(tenant, name) == verified[name]:
                pending.discard(name)
            else:
                pending.add(name)
        tenant.fields_to_verify = [name for name in Tenant.VERIFIED_FIELDS if name in pending]
        update.append("fields_to_verify")
    tenant.save(update_fields=update)
    record(AuditEvent.Action.COMPANY_UPDATED, tenant=tenant, actor=by, target=tenant.name,
           details=fields)


def add_verification_document(tenant: Tenant, *, document, by: User) -> None:
    document.tenant, document.uploaded_by = tenant, by
    document.save()
    record(AuditEvent.Action.DOCUMENT_UPLOADED, tenant=tenant, actor=by, target=tenant.name,
           details={"document": document.kind})


# Members ----------------------------------------------------------------------------------

def _ensure_an_owner_remains(membership: Membership, new_role: str | None) -> None:
    if membership.role != TenantRole.OWNER or new_role == TenantRole.OWNER:
        return
    other_owners = Membership.unscoped.filter(
        tenant_id=membership.tenant_id, role=TenantRole.OWNER).exclude(pk=membership.pk)
    if not other_owners.exists():
        raise TenantError(_("A company needs at least one owner. Make someone else owner first."))


def change_role(membership: Membership, *, role: str, by: User) -> None:
    """The member's API keys act with at most the new role from the next request on."""
    _ensure_an_owner_remains(membership, role)
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    record(AuditEvent.Action.MEMBER_ROLE_CHANGED, tenant=membership.tenant, actor=by,
           target=membership.user.email, details={"from": old, "to": role})
    api_keys.record_keys_after_role_change(membership, old, by=by)


def remove_member(membership: Membership, *, by: User) -> None:
    """The member's API keys of this company are revoked with them."""
    _ensure_an_owner_remains(membership, None)
    api_keys.revoke_keys_of_leaving_member(membership, by=by)
    membership.delete()
    record(AuditEvent.Action.MEMBER_REMOVED, tenant=membership.tenant, actor=by,
           target=membership.user.email)


# Invitations ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SentInvitation:
    invitation: Invitation
    token: str  # goes only into the e-mail


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite_member(*, tenant: Tenant, email: str, role: str, by: User) -> SentInvitation:
    """Invite someone by e-mail to the tenant in scope; the e-mail goes out after commit."""
    from tenants.tasks import send_invitation_email

    email = email.strip().lower()
    if Membership.objects.filter(user__email__iexact=email).exists():
        raise TenantError(_("%(email)s is already a member of this company.") % {"email": email})
    for previous in Invitation.objects.filter(email=email, status=Invitation.Status.PENDING):
        revoke_invitation(previous, by=by)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        tenant=tenant, email=email, role=role, token_hash=hash_token(token), invited_by=by,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_VALID_DAYS),
    )
    record(AuditEvent.Action.MEMBER_INVITED, tenant=tenant, actor=by, target=email,
           details={"role": role})
    send_invitation_email.delay_on_commit(tenant.pk, invitation.pk, token)
    return SentInvitation(invitation=invitation, token=token)


def find_invitation(token: str) -> Invitation | None:
    """The invitation a link points to (across tenants: the token decides which)."""
    return (Invitation.unscoped.select_related("tenant")
            .filter(token_hash=hash_token(token)).first())


def accept_invitation(invitation: Invitation, *, user: User) -> Membership:
    if not invitation.is_usable:
        raise TenantError(_("This invitation has expired or was withdrawn. "
                            "Ask the company's owner for a new one."))
    if user.email.lower() != invitation.email.lower():
        raise TenantError(_("This invitation was sent to %(email)s. Sign in with that address.")
                          % {"email": invitation.email})
    with transaction.atomic(), tenant_scope(invitation.tenant):
        membership, _created = Membership.objects.get_or_create(
            user=user, defaults={"role": invitation.role, "tenant": invitation.tenant})
        invitation.status = Invitation.Status.ACCEPTED
        invitation.accepted_by, invitation.accepted_at = user, timezone.now()
        invitation.save(update_fields=["status", "accepted_by", "accepted_at"])
        record(AuditEvent.Action.MEMBER_JOINED, tenant=invitation.tenant, actor=user,
               target=user.email, details={"role": membership.role})
    return membership


def revoke_invitation(invitation: Invitation, *, by: User) -> None:
    if invitation.status == Invitation.Status.PENDING:
        invitation.status = Invitation.Status.REVOKED
        invitation.save(update_fields=["status"])
        record(AuditEvent.Action.INVITATION_REVOKED, tenant=invitation.tenant, actor=by,
               target=invitation.email)


def expire_stale_invitations() -> int:
    """Housekeeping (django-q2 schedule): mark pending invitations past their date expired."""
    return Invitation.unscoped.filter(
        status=Invitation.Status.PENDING, expires_at__lte=timezone.now()
    ).update(status=Invitation.Status.EXPIRED)

