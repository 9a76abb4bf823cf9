"""ISV staff console: the tenants list and each tenant's detail and lifecycle actions."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audit.models import AuditEvent
from tenants import services
from tenants.access import staff_can, staff_required
from tenants.forms import SuspendForm
from tenants.models import Membership, Tenant, VerificationDocument
from tenants.roles import StaffPermission

VIEW = StaffPermission.VIEW_TENANTS
MANAGE = StaffPermission.MANAGE_TENANTS


@staff_required(VIEW)
def tenant_list(request: HttpRequest) -> HttpResponse:
    tenants = Tenant.objects.annotate(member_count=Count("membership", distinct=True))
    status = request.GET.get("status", "")
    if status in Tenant.Status.values:
        tenants = tenants.filter(status=status)
    query = request.GET.get("q", "").strip()
    if query:
        tenants = tenants.filter(Q(name__icontains=query) | Q(slug__icontains=query)
                                 | Q(licence_number__icontains=query))
    return render(request, "console/tenant_list.html", {
        "tenants": tenants, "status": status, "q": query, "statuses": Tenant.Status.choices,
    })


@staff_required(VIEW)
def tenant_detail(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_object_or_404(Tenant, slug=slug)
    return render(request, "console/tenant_detail.html", {
        "tenant": tenant,
        "memberships": Membership.unscoped.filter(tenant=tenant).select_related("user"),
        "documents": VerificationDocument.unscoped.filter(tenant=tenant),
        "audit_events": AuditEvent.unscoped.filter(tenant=tenant).select_related("actor")[:50],
        "can_manage": staff_can(request, MANAGE),
        "suspend_form": SuspendForm(),
    })


@require_POST
@staff_required(MANAGE)
def tenant_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    tenant = get_object_or_404(Tenant, slug=slug)
    try:
        if action == "verify":
            services.verify_tenant(tenant, by=request.user)
        elif action == "suspend":
            services.suspend_tenant(tenant, by=request.user,
                                    reason=request.POST.get("reason", ""))
        elif action == "reactivate":
            services.reactivate_tenant(tenant, by=request.user)
        else:
            return render(request, "404.html", status=404)
    except services.TenantError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("%(tenant)s is now %(status)s.")
                         % {"tenant": tenant.name, "status": tenant.get_status_display()})
    return redirect("console_tenant", slug=tenant.slug)


@staff_required(VIEW)
def document_download(request: HttpRequest, slug: str, pk: int) -> FileResponse:
    document = get_object_or_404(VerificationDocument.unscoped, tenant__slug=slug, pk=pk)
    return FileResponse(document.file.open("rb"), as_attachment=True)
