from __future__ import annotations

from datetime import date, datetime, time, timedelta

import filetype
from allauth.account.forms import SignupForm
from django import forms
from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.models import Tenant, VerificationDocument
from tenants.roles import KeyScope, TenantRole


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    role = forms.ChoiceField(label=_("Role"), choices=TenantRole.choices,
                             initial=TenantRole.OPERATOR)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=TenantRole.choices)


class ApiKeyForm(forms.Form):
    MAX_VALID_DAYS = 730

    name = forms.CharField(label=_("Name"), max_length=100,
                           help_text=_("Where the key is used, e.g. “ERP production”."))
    role = forms.ChoiceField(label=_("Role"), choices=TenantRole.choices,
                             initial=TenantRole.OPERATOR,
                             help_text=_("The key never does more than your own role allows."))
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"), choices=KeyScope.choices, required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: everything the role allows. Every key may read."))
    expires_on = forms.DateField(
        label=_("Valid until"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Empty: until revoked. The key stops working after this day."))

    def clean_scopes(self) -> list[str]:
        scopes = self.cleaned_data["scopes"]
        if KeyScope.READ_ONLY in scopes and len(scopes) > 1:
            raise forms.ValidationError(_("“Read only” cannot be combined with other scopes."))
        return scopes

    def clean_expires_on(self) -> date | None:
        day = self.cleaned_data["expires_on"]
        today = timezone.localdate()
        if day is not None and not today <= day <= today + timedelta(days=self.MAX_VALID_DAYS):
            raise forms.ValidationError(
                _("Choose a day from today to %(last)s.")
                % {"last": (today + timedelta(days=self.MAX_VALID_DAYS)).isoformat()})
        return day

    def key_fields(self) -> dict:
        """The cleaned form as create_api_key's arguments (the day ends at local midnight)."""
        data = self.cleaned_data
        day = data["expires_on"]
        expires_at = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min)
                                         ) if day else None
        return {"name": data["name"], "role": data["role"], "scopes": data["scopes"],
                "expires_at": expires_at}


phone_validator = RegexValidator(
    r"^\+?[0-9][0-9 ()-]{5,30}$",
    _("Enter a phone number of digits, e.g. +86 138 0000 0000."), code="invalid_phone")


class OnboardTenantForm(forms.Form):
    """ISV staff create a company and invite its first owner."""

    name = forms.CharField(label=_("Company name"), max_length=200)
    owner_email = forms.EmailField(label=_("Owner's e-mail address"),
                                   help_text=_("The first owner receives the invitation."))
    time_zone = forms.CharField(label=_("Time zone"), max_length=64, initial="Asia/Shanghai")
    licence_number = forms.CharField(label=_("Business licence number"), max_length=64,
                                     required=False)
    legal_representative = forms.CharField(label=_("Legal representative"), max_length=100,
                                           required=False)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("Enter the company's name."))
        return name

    def clean_time_zone(self) -> str:
        from tenants.models import validate_time_zone

        value = self.cleaned_data["time_zone"].strip()
        validate_time_zone(value)
        return value


class CompanySignupForm(SignupForm):
    """A seller signs the company up: it waits for verification by ISV staff."""

    company = forms.CharField(label=_("Company name"), max_length=200)
    contact_name = forms.CharField(label=_("Contact person"), max_length=150)
    phone = forms.CharField(label=_("Phone"), max_length=32, validators=[phone_validator])

    field_order = ["company", "contact_name", "phone", "email", "password1", "password2"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.order_fields(self.field_order)

    def clean_company(self) -> str:
        company = self.cleaned_data["company"].strip()
        if not company:
            raise forms.ValidationError(_("Enter the company's name."))
        return company

    def custom_signup(self, request, user) -> None:
        from tenants.services import sign_up_company

        user.name = self.cleaned_data["contact_name"].strip()
        user.save(update_fields=["name"])
        tenant = sign_up_company(owner=user, company=self.cleaned_data["company"],
                                 phone=self.cleaned_data["phone"])
        request.session["tenant_id"] = tenant.pk


class RefuseForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("The seller sees this reason in the e-mail and on the "
                                         "company page."))


class CompanyForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ["name", "time_zone", "licence_number", "legal_representative",
                  "contact_phone"]

    def clean_contact_phone(self) -> str:
        phone = self.cleaned_data["contact_phone"].strip()
        if phone:
            phone_validator(phone)
        return phone


class DocumentForm(forms.ModelForm):
    MAX_BYTES = 10 * 1024 * 1024
    # The file name's ending, and what the content's first bytes (magic numbers) must be.
    CONTENT_TYPES = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                     ".png": "image/png"}

    class Meta:
        model = VerificationDocument
        fields = ["kind", "file"]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        suffix = "." + upload.name.lower().rpartition(".")[2]
        if suffix not in self.CONTENT_TYPES:
            raise forms.ValidationError(_("Upload a PDF, JPG or PNG file."))
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError(_("The file is larger than 10 MB; upload a smaller scan."))
        upload.seek(0)
        found = filetype.guess(upload.read(512))
        upload.seek(0)
        if found is None or found.mime != self.CONTENT_TYPES[suffix]:
            raise forms.ValidationError(
                _("The file's content is not the %(kind)s its name says: upload the scan itself "
                  "as a PDF, JPG or PNG.") % {"kind": suffix.lstrip(".").upper()})
        return upload


class SuspendForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("The seller sees this reason."))
