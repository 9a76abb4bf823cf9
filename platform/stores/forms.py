from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from stores.selectors import site_groups

CODE_HELP = _("Generate it in the seller center under authorization management for our app; "
              "it is valid for 7 days and can be used once.")


class AuthorizationCodeField(forms.CharField):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("label", _("Authorization code"))
        kwargs.setdefault("help_text", CODE_HELP)
        kwargs.setdefault("max_length", 512)
        kwargs.setdefault("widget", forms.TextInput(attrs={
            "autocomplete": "off", "spellcheck": "false", "class": "code-input"}))
        super().__init__(**kwargs)


class AddStoreForm(forms.Form):
    # A callable: the site labels are translated when the form is built, not at import.
    site_code = forms.ChoiceField(label=_("Marketplace site"), choices=site_groups)
    authorization_code = AuthorizationCodeField()


class ReauthorizeForm(forms.Form):
    authorization_code = AuthorizationCodeField()
