"""Seller portal pages about the company itself: members, invitations, API keys, profile."""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from allauth.account.views import SignupView
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audit.models import AuditEvent
from tenants import api_keys, services
from tenants.access import member_can, member_required
from tenants.adapters import INVITATION_SESSION_KEY
from tenants.forms import (
    ApiKeyForm,
    CompanyForm,
    CompanySignupForm,
    DocumentForm,
    InvitationForm,
    RoleForm,
)
from tenants.models import ApiKey, Invitation, Membership, VerificationDocument
from tenants.roles import TenantPermission, TenantRole
from tenants.selectors import memberships_of

MANAGE_MEMBERS = TenantPermission.MANAGE_MEMBERS


@member_required()
def members(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST or None)
    if request.method == "POST":
        if not member_can(request, MANAGE_MEMBERS):
            return _forbidden(request)
        if form.is_valid():
            try:
                services.invite_member(tenant=request.tenant, by=request.user,
                                       **form.cleaned_data)
            except services.TenantError as error:
                form.add_error("email", str(error))
            else:
                messages.success(request, _("Invitation sent to %(email)s.")
                                 % {"email": form.cleaned_data["email"]})
                return redirect("members")
    return render(request, "tenants/members.html", {
        "memberships": Membership.objects.select_related("user"),
        "invitations": Invitation.objects.filter(status=Invitation.Status.PENDING),
        "form": form,
        "role_form": RoleForm(),
    })


@require_POST
@member_required(MANAGE_MEMBERS)
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=pk)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.change_role(membership, role=form.cleaned_data["role"], by=request.user)
        except services.TenantError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Role updated."))
    return redirect("members")


@require_POST
@member_required(MANAGE_MEMBERS)
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=pk)
    try:
        services.remove_member(membership, by=request.user)
    except services.TenantError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("%(email)s no longer has access.")
                         % {"email": membership.user.email})
    return redirect("members")


@require_POST
@member_required(MANAGE_MEMBERS)
def invitation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    services.revoke_invitation(get_object_or_404(Invitation, pk=pk), by=request.user)
    messages.success(request, _("Invitation withdrawn."))
    return redirect("members")


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the invitation e-mail. Public: the token is the credential."""
    invitation = services.find_invitation(token)
    if invitation is None or not invitation.is_usable:
        request.session.pop(INVITATION_SESSION_KEY, None)
        return render(request, "tenants/invitation_invalid.html", status=404)
    request.session[INVITATION_SESSION_KEY] = token
    if not request.user.is_authenticated:
        # The address received the link, so signing up with it needs no second verification.
        get_adapter().stash_verified_email(request, invitation.email)
        return render(request, "tenants/invitation.html", {"invitation": invitation})
    if request.method == "POST":
        try:
            membership = services.accept_invitation(invitation, user=request.user)
        except services.TenantError as error:
            messages.error(request, str(error))
        else:
            request.session.pop(INVITATION_SESSION_KEY, None)
            request.session["tenant_id"] = membership.tenant_id
            messages.success(request, _("Welcome to %(tenant)s.") % {"tenant": invitation.tenant})
            return redirect("dashboard")
    return render(request, "tenants/invitation.html", {"invitation": invitation})


@require_POST
def switch_tenant(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("account_login")
    wanted = request.POST.get("tenant_id", "")
    membership = next((m for m in memberships_of(request.user) if str(m.tenant_id) == wanted),
                      None)
    if membership is None:
        return _forbidden(request)
    request.session["tenant_id"] = membership.tenant_id
    return redirect("dashboard")


@member_required(TenantPermission.MANAGE_API_KEYS)
def api_key_list(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        new_key = api_keys.create_api_key(created_by=request.user, **form.key_fields())
        form = ApiKeyForm()
    keys = list(ApiKey.objects.select_related("created_by"))
    acting = api_keys.acting_roles(keys)
    return render(request, "tenants/api_keys.html", {
        "keys": [(key, acting[key.pk], TenantRole(acting[key.pk]).label if acting[key.pk] else "")
                 for key in keys],
        "form": form, "new_key": new_key,
    })


@require_POST
@member_required(TenantPermission.MANAGE_API_KEYS)
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    api_keys.revoke_api_key(get_object_or_404(ApiKey, pk=pk), by=request.user)
    messages.success(request, _("API key revoked: programs using it are refused from now on."))
    return redirect("api_keys")


class CompanySignupView(SignupView):
    """A seller signs the company up (company, contact, phone). allauth's sign-up does the
    rest: its rate limit per address, mandatory e-mail verification, and the same answer
    whether or not the e-mail already has an account (it is told so by e-mail instead)."""

    template_name = "tenants/signup.html"
    form_class = CompanySignupForm

    def get_form_class(self):
        return CompanySignupForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        response.status_code = 400
        return response


company_signup = CompanySignupView.as_view()


@member_required()
def company(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    can_manage = member_can(request, TenantPermission.MANAGE_COMPANY)
    form = CompanyForm(instance=tenant)
    document_form = DocumentForm()
    status = 200
    if request.method == "POST":
        if not can_manage:
            return _forbidden(request)
        try:
            if "resubmit" in request.POST:
                services.resubmit_for_verification(tenant, by=request.user)
                messages.success(request, _("Submitted again: ISV staff will check your "
                                            "company's details."))
                return redirect("company")
            if "upload" in request.POST:
                document_form = DocumentForm(request.POST, request.FILES)
                if document_form.is_valid():
                    services.add_verification_document(
                        tenant, document=document_form.save(commit=False), by=request.user)
                    messages.success(request, _("Document uploaded."))
                    return redirect("company")
            else:
                form = CompanyForm(request.POST, instance=tenant)
                if form.is_valid():
                    services.update_company(tenant, by=request.user, **{
                        name: form.cleaned_data[name] for name in form.changed_data})
                    messages.success(request, _("Company details saved."))
                    return redirect("company")
                tenant.refresh_from_db()
        except services.TenantError as error:
            messages.error(request, str(error))
        status = 400
    return render(request, "tenants/company.html", {
        "form": form, "document_form": document_form, "can_manage": can_manage,
        "documents": VerificationDocument.objects.select_related("uploaded_by"),
        "missing": services.missing_for_verification(tenant),
        "audit_events": AuditEvent.objects.select_related("actor")[:20],
    }, status=status)


@member_required()
def document_download(request: HttpRequest, pk: int) -> FileResponse:
    document = get_object_or_404(VerificationDocument, pk=pk)
    return FileResponse(document.file.open("rb"), as_attachment=True)


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "403.html", status=403)
