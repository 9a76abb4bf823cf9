from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from kernel.mail import send_in_both_languages
from tenants.background import tenant_task
from tenants.models import Invitation, Tenant


@tenant_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invitation_email(tenant: Tenant, invitation_id: int, token: str) -> None:
    invitation = Invitation.objects.select_related("invited_by").get(pk=invitation_id)
    if not invitation.is_usable:
        return
    link = settings.SITE_URL.rstrip("/") + reverse("invitation_accept", args=[token])
    send_in_both_languages("tenants/email/invitation", {
        "invitation": invitation, "tenant": tenant, "link": link,
    }, [invitation.email])


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
    link = settings.SITE_URL.rstrip("/") + reverse("company")
    return send_in_both_languages(f"tenants/email/tenant_{event}",
                                  {"tenant": tenant, "reason": reason, "link": link},
                                  recipients)
