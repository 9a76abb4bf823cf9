"""Seller portal forms: a new generation job, brand-voice notes, own banned words."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog.models import QualityFlag
from generation.content import LANGUAGE_NAMES, ContentKind
from generation.models import BrandVoice, TenantBannedWord
from generation.services import JobError, Selection, choose_skus
from marketplaces.sites import MARKETPLACE_CHOICES, MARKETPLACE_LANGUAGES
from portal.paging import int_param
from stores.models import Store


def banned_term(value: str) -> str:
    """A banned word or phrase as stored, on the ISV's list and the tenants' own: inner
    whitespace collapsed to one space."""
    return " ".join(value.split())


class JobForm(forms.Form):
    """Store, SKUs (a catalog filter or an explicit list), kinds, languages, compliance mode.
    The languages offered are the chosen store's marketplace's; its site's main languages are
    preselected."""

    store = forms.TypedChoiceField(label=_("Store"), coerce=int)
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    category = forms.CharField(label=_("Category"), required=False, max_length=200)
    flag = forms.ChoiceField(label=_("Quality"), required=False,
                             choices=[("", _("Any quality")), *QualityFlag.choices])
    product_ids = forms.TypedMultipleChoiceField(label=_("Selected SKUs"), coerce=int,
                                                 required=False,
                                                 widget=forms.MultipleHiddenInput)
    all_skus = forms.BooleanField(
        label=_("Every SKU of the store"), required=False,
        help_text=_("Without a filter, a job covers every SKU of the store only when this is "
                    "ticked."))
    kinds = forms.MultipleChoiceField(label=_("Content kinds"), choices=ContentKind.choices,
                                      required=False, widget=forms.CheckboxSelectMultiple)
    languages = forms.MultipleChoiceField(label=_("Languages"), required=False,
                                          widget=forms.CheckboxSelectMultiple)
    compliance_mode = forms.BooleanField(
        label=_("Compliance mode"), required=False, initial=True,
        help_text=_("Content that hits a banned word is regenerated once with stricter "
                    "instructions and then needs a person's check before publishing."))
    target_terms = forms.CharField(
        label=_("Target search terms"), required=False, max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "en: water bottle, gym flask"}),
        help_text=_("One line per language: the language code, a colon, then the terms "
                    "separated by commas. Review shows how many of them each text names."))

    def __init__(self, *args, stores: list[Store], store: Store | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["store"].choices = [(s.pk, str(s)) for s in stores]
        self.chosen_store = store
        marketplace = store.site.marketplace if store else None
        codes = MARKETPLACE_LANGUAGES[marketplace] if marketplace else tuple(LANGUAGE_NAMES)
        self.fields["languages"].choices = [(code, LANGUAGE_NAMES[code]) for code in codes]
        if store is not None and not self.is_bound:
            self.initial.setdefault("store", store.pk)
            self.initial.setdefault("languages", list(store.site.languages))
        # Any id is accepted here: Selection only ever picks the store's own products.
        self.fields["product_ids"].choices = [(value, value) for value in self._posted_ids()]

    def _posted_ids(self) -> list[str]:
        if not self.is_bound:
            return [str(value) for value in self.initial.get("product_ids", [])]
        getter = getattr(self.data, "getlist", None)
        values = getter("product_ids") if getter else self.data.get("product_ids", [])
        return [str(v) for v in values if int_param(str(v)) is not None]

    def clean_target_terms(self) -> dict[str, list[str]]:
        terms: dict[str, list[str]] = {}
        for line in (self.cleaned_data.get("target_terms") or "").splitlines():
            if not line.strip():
                continue
            language, colon, rest = line.partition(":")
            language = language.strip().lower()
            if not colon or language not in LANGUAGE_NAMES:
                raise forms.ValidationError(
                    _("Start each line with a language code and a colon, e.g. “en: water "
                      "bottle, gym flask”."))
            terms.setdefault(language, []).extend(
                term.strip() for term in rest.split(",") if term.strip())
        return terms

    def clean(self) -> dict:
        data = super().clean()
        try:
            self._selection = choose_skus(
                product_ids=data.get("product_ids") or None, q=data.get("q", ""),
                category=data.get("category", ""), flag=data.get("flag", ""),
                whole_store=bool(data.get("all_skus")) and not data.get("product_ids"))
        except JobError as error:
            self.add_error(None, error.message)
        return data

    def selection(self) -> Selection:
        return self._selection


class BrandVoiceForm(forms.ModelForm):
    class Meta:
        model = BrandVoice
        fields = ["notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 6, "maxlength": 2000})}
        help_texts = {"notes": _("Tone and wording for every generated text, e.g. \"Friendly, "
                                 "no exclamation marks, say 'bottle' not 'flask'\". Added after "
                                 "the instructions of every request; the marketplace's rules "
                                 "still come first.")}


class BannedWordForm(forms.ModelForm):
    class Meta:
        model = TenantBannedWord
        fields = ["term", "marketplace", "language", "reason"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["marketplace"].choices = [("", _("Every marketplace")),
                                              *MARKETPLACE_CHOICES]
        self.fields["language"].choices = [("", _("Every language")),
                                           *LANGUAGE_NAMES.items()]

    def clean_term(self) -> str:
        term = banned_term(self.cleaned_data["term"])
        if not term:
            raise forms.ValidationError(_("Enter a word or phrase."))
        return term

    def validate_unique(self) -> None:
        # tenant is not a form field; the view checks the duplicate within the tenant.
        pass
