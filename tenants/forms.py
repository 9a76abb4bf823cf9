from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tenants.models import Tenant, VerificationDocument
from tenants.roles import TenantRole


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    role = forms.ChoiceField(label=_("Role"), choices=TenantRole.choices,
                             initial=TenantRole.OPERATOR)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=TenantRole.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100,
                           help_text=_("Where the key is used, e.g. “ERP production”."))
    role = forms.ChoiceField(label=_("Role"), choices=TenantRole.choices,
                             initial=TenantRole.OPERATOR)


class CompanyForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ["name", "time_zone", "licence_number", "legal_representative"]


class DocumentForm(forms.ModelForm):
    MAX_BYTES = 10 * 1024 * 1024
    ALLOWED_SUFFIXES = (".pdf", ".jpg", ".jpeg", ".png")

    class Meta:
        model = VerificationDocument
        fields = ["kind", "file"]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(self.ALLOWED_SUFFIXES):
            raise forms.ValidationError(_("Upload a PDF, JPG or PNG file."))
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError(_("The file is larger than 10 MB; upload a smaller scan."))
        return upload


class SuspendForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("The seller sees this reason."))
