from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from tenants.background import tenant_task
from tenants.models import Invitation, Tenant


@tenant_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invitation_email(tenant: Tenant, invitation_id: int, token: str) -> None:
    invitation = Invitation.objects.select_related("invited_by").get(pk=invitation_id)
    if not invitation.is_usable:
        return
    link = settings.SITE_URL.rstrip("/") + reverse("invitation_accept", args=[token])
    # Most sellers read Chinese first; the e-mail carries both languages.
    bodies = []
    for language in ("zh-hans", "en"):
        with translation.override(language):
            bodies.append(render_to_string("tenants/email/invitation.txt", {
                "invitation": invitation, "tenant": tenant, "link": link,
            }))
    with translation.override("zh-hans"):
        subject = render_to_string("tenants/email/invitation_subject.txt",
                                   {"tenant": tenant}).strip()
    send_mail(subject, "\n\n----\n\n".join(bodies), None, [invitation.email])


TENANT_NOTICES = ("verified", "refused", "suspended", "reactivated")


@tenant_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_tenant_notice(tenant: Tenant, event: str, reason: str = "") -> int:
    """Tell the company's owners that staff verified, refused, suspended or reactivated it."""
    from tenants.models import Membership
    from tenants.roles import TenantRole

    if event not in TENANT_NOTICES:
        raise ValueError(event)
    recipients = sorted(Membership.objects.filter(
        role=TenantRole.OWNER, user__is_active=True).values_list("user__email", flat=True))
    if not recipients:
        return 0
    link = settings.SITE_URL.rstrip("/") + reverse("company")
    context = {"tenant": tenant, "reason": reason, "link": link}
    bodies = []
    # Most sellers read Chinese first; the e-mail carries both languages.
    for language in ("zh-hans", "en"):
        with translation.override(language):
            bodies.append(render_to_string(f"tenants/email/tenant_{event}.txt", context))
    with translation.override("zh-hans"):
        subject = render_to_string(f"tenants/email/tenant_{event}_subject.txt", context).strip()
    send_mail(subject, "\n\n----\n\n".join(bodies), None, recipients)
    return len(recipients)
