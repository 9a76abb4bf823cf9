"""ISV staff console: the tenants list with onboarding, and each tenant's lifecycle actions
(the tenant page itself composes every app: portal/console_tenants.py)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenants import services
from tenants.access import staff_can, staff_required
from tenants.forms import OnboardTenantForm
from tenants.models import Tenant, VerificationDocument
from tenants.roles import StaffPermission

VIEW = StaffPermission.VIEW_TENANTS
MANAGE = StaffPermission.MANAGE_TENANTS


@staff_required(VIEW)
def tenant_list(request: HttpRequest) -> HttpResponse:
    """The tenants, and (for platform admins) the form that onboards a new one."""
    form = OnboardTenantForm(request.POST or None)
    status_code = 200
    if request.method == "POST":
        if not staff_can(request, MANAGE):
            raise PermissionDenied
        if form.is_valid():
            try:
                sent = services.onboard_tenant(by=request.user, **form.cleaned_data)
            except (services.TenantError, ValidationError) as error:
                form.add_error(None, error.messages if isinstance(error, ValidationError)
                               else str(error))
            else:
                messages.success(request, _("%(tenant)s created; the invitation went to "
                                            "%(email)s.") % {
                    "tenant": sent.invitation.tenant.name, "email": sent.invitation.email})
                return redirect("console_tenant", slug=sent.invitation.tenant.slug)
        status_code = 400
    tenants = Tenant.objects.annotate(member_count=Count("membership", distinct=True))
    status = request.GET.get("status", "")
    if status == "awaiting":
        tenants = tenants.filter(Q(status=Tenant.Status.PENDING) | ~Q(fields_to_verify=[]))
    elif status in Tenant.Status.values:
        tenants = tenants.filter(status=status)
    query = request.GET.get("q", "").strip()
    if query:
        tenants = tenants.filter(Q(name__icontains=query) | Q(slug__icontains=query)
                                 | Q(licence_number__icontains=query))
    return render(request, "console/tenant_list.html", {
        "tenants": tenants, "status": status, "q": query, "statuses": Tenant.Status.choices,
        "form": form, "can_manage": staff_can(request, MANAGE),
    }, status=status_code)


@require_POST
@staff_required(MANAGE)
def tenant_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    """Verify, refuse, suspend or reactivate; the owners are told by e-mail."""
    tenant = get_object_or_404(Tenant, slug=slug)
    reason = request.POST.get("reason", "")
    actions = {
        "verify": lambda: services.verify_tenant(tenant, by=request.user),
        "refuse": lambda: services.refuse_verification(tenant, by=request.user, reason=reason),
        "suspend": lambda: services.suspend_tenant(tenant, by=request.user, reason=reason),
        "reactivate": lambda: services.reactivate_tenant(tenant, by=request.user),
    }
    if action not in actions:
        raise Http404
    try:
        actions[action]()
    except services.TenantError as error:
        messages.error(request, str(error))
        # Redirect after POST all the same, so a refresh does not send it again.
    else:
        if action == "refuse":
            message = _("%(tenant)s: verification refused; the owners were e-mailed the "
                        "reason.")
        elif action == "verify":
            message = _("%(tenant)s is verified; the owners were e-mailed.")
        else:
            message = _("%(tenant)s is now %(status)s.")
        messages.success(request, message % {"tenant": tenant.name,
                                             "status": tenant.get_status_display()})
    return redirect("console_tenant", slug=tenant.slug)


@staff_required(VIEW)
def document_download(request: HttpRequest, slug: str, pk: int) -> FileResponse:
    document = get_object_or_404(VerificationDocument.unscoped, tenant__slug=slug, pk=pk)
    return FileResponse(document.file.open("rb"), as_attachment=True)
