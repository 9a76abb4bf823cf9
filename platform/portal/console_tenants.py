"""The ISV console's tenant page for support: everything about one company at once (its stores
and their health, subscriptions, today's quota, recent jobs and failures, statements, members,
verification and the audit trail). It composes the apps, so it lives in the portal."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from audit.models import AuditEvent
from billing.models import StoreSubscription, UsageStatement
from billing.quota import usage_today
from generation.models import GenerationItem, GenerationJob
from stores.selectors import store_overviews
from tenants import services
from tenants.access import staff_can, staff_required
from tenants.forms import RefuseForm, SuspendForm
from tenants.models import Invitation, Membership, Tenant, VerificationDocument
from tenants.roles import StaffPermission
from tenants.scope import tenant_scope

RECENT = 10


def _memberships() -> list[Membership]:
    """The members, each marked whether they confirmed their e-mail (a self-signed-up company
    whose owner never confirmed is most likely not worth verifying)."""
    memberships = list(Membership.objects.select_related("user"))
    confirmed = set(EmailAddress.objects.filter(
        user__in=[m.user for m in memberships], verified=True).values_list("user_id", flat=True))
    for membership in memberships:
        membership.email_confirmed = membership.user_id in confirmed
    return memberships


@staff_required(StaffPermission.VIEW_TENANTS)
def tenant_detail(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_object_or_404(Tenant, slug=slug)
    with tenant_scope(tenant):
        stores = store_overviews()
        context = {
            "tenant": tenant,
            "stores": [(overview, usage_today(overview.store)) for overview in stores],
            "subscriptions": list(StoreSubscription.objects.select_related(
                "store", "pack_version__pack").order_by("-ends_on")[:20]),
            "jobs": list(GenerationJob.objects.select_related("store")
                         .order_by("-created_at")[:RECENT]),
            "failures": list(GenerationItem.objects.filter(status=GenerationItem.Status.FAILED)
                             .select_related("product", "store")
                             .order_by("-finished_at", "-pk")[:RECENT]),
            "statements": list(UsageStatement.objects.order_by("-period", "-sequence")[:12]),
            "memberships": _memberships(),
            "invitations": list(Invitation.objects.filter(status=Invitation.Status.PENDING)),
            "documents": list(VerificationDocument.objects.all()),
            "audit_events": list(AuditEvent.objects.select_related("actor")[:50]),
        }
    context.update({
        "missing": services.missing_for_verification(tenant),
        "can_manage": staff_can(request, StaffPermission.MANAGE_TENANTS),
        "can_see_finance": staff_can(request, StaffPermission.VIEW_FINANCE),
        "suspend_form": SuspendForm(), "refuse_form": RefuseForm(),
    })
    return render(request, "console/tenant_detail.html", context)
