"""Forms of the ISV console's generation pages (model nodes, instructions, banned words,
log search, cost)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import Product
from generation.content import LANGUAGE_CHOICES
from generation.forms import banned_term
from generation.models import (
    BannedWord,
    InstructionSet,
    InstructionVersion,
    ModelNode,
)
from marketplaces.sites import MARKETPLACE_CHOICES
from portal.error_codes import ERROR_CODES
from stores.models import Store
from tenants.models import Tenant

MAX_SAMPLES = 5


class ModelNodeForm(forms.ModelForm):
    """The API key is write-only: never rendered; left blank it keeps the current key."""

    api_key = forms.CharField(
        label=_("API key"), required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Write-only. Leave blank to keep the current key."))

    class Meta:
        model = ModelNode
        fields = ["name", "base_url", "model_name", "api_key", "supports_text",
                  "supports_vision", "role", "priority", "max_concurrency",
                  "request_deadline_seconds", "price_cache_hit", "price_cache_miss",
                  "price_output", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.pop("api_key", None)
        self._current_key = self.instance.api_key if self.instance.pk else ""

    def clean_api_key(self) -> str:
        return self.cleaned_data.get("api_key") or self._current_key

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("supports_text") and not data.get("supports_vision"):
            raise forms.ValidationError(_("A node must do text, vision or both."))
        return data


class InstructionSetForm(forms.ModelForm):
    class Meta:
        model = InstructionSet
        fields = ["marketplace", "kind", "category", "name"]

    def clean_category(self) -> str:
        category = self.cleaned_data["category"].strip()
        if not category:
            raise forms.ValidationError(_("Name the category: the marketplace-wide sets "
                                          "exist already."))
        return category


class DraftForm(forms.ModelForm):
    class Meta:
        model = InstructionVersion
        fields = ["text", "strict_text", "change_note"]
        widgets = {"text": forms.Textarea(attrs={"rows": 18}),
                   "strict_text": forms.Textarea(attrs={"rows": 5})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["change_note"].required = True


class SampleTestForm(forms.Form):
    """Sample SKUs: a store's products (1-5, by ID or SKU), or product data as JSON."""

    store = forms.ModelChoiceField(label=_("Store"), required=False,
                                   queryset=Store.unscoped.select_related("tenant")
                                   .order_by("tenant__name", "display_name"))
    products = forms.CharField(label=_("Products (IDs or SKUs, comma-separated, 1-5)"),
                               required=False)
    product_json = forms.CharField(
        label=_("Or product data as JSON"), required=False,
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": '{"title": "...", '
                                     '"category": "...", "attributes": {}, "parameters": {}}'}))
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGE_CHOICES, initial="en")
    node = forms.ModelChoiceField(label=_("Node"), required=False,
                                  queryset=ModelNode.objects.filter(enabled=True),
                                  empty_label=_("First enabled node"))

    def clean(self) -> dict:
        data = super().clean()
        raw_json = (data.get("product_json") or "").strip()
        store, wanted = data.get("store"), (data.get("products") or "").strip()
        samples: list[Product] = []
        if raw_json:
            try:
                parsed = json.loads(raw_json)
            except ValueError as error:
                raise forms.ValidationError(_("The product data is not valid JSON: %(error)s"),
                                            params={"error": error}) from error
            entries = parsed if isinstance(parsed, list) else [parsed]
            if not entries or len(entries) > MAX_SAMPLES or not all(
                    isinstance(entry, dict) and entry.get("title") for entry in entries):
                raise forms.ValidationError(_("Give 1 to 5 products, each with a title."))
            for entry in entries:
                samples.append(Product(
                    title=str(entry["title"]), category=str(entry.get("category", "")),
                    description=str(entry.get("description", "")),
                    attributes=entry.get("attributes") or {},
                    parameters=entry.get("parameters") or {},
                    bullet_points=entry.get("bullet_points") or [], sku="json"))
        elif store is not None and wanted:
            keys = [key.strip() for key in wanted.split(",") if key.strip()]
            if not 1 <= len(keys) <= MAX_SAMPLES:
                raise forms.ValidationError(_("Choose 1 to 5 products."))
            found = Product.unscoped.filter(store=store)
            ids = [int(key) for key in keys if key.isdigit()]
            samples = list(found.filter(pk__in=ids)) + list(
                found.filter(sku__in=keys).exclude(pk__in=ids))
            if len(samples) < len(keys):
                raise forms.ValidationError(_("Some of these products are not in the store."))
            samples = samples[:MAX_SAMPLES]
        else:
            raise forms.ValidationError(_("Choose a store and 1 to 5 of its products, or enter "
                                          "product data as JSON."))
        data["samples"] = samples
        return data


class BannedWordForm(forms.ModelForm):
    class Meta:
        model = BannedWord
        fields = ["marketplace", "language", "term", "reason"]

    def clean_term(self) -> str:
        return banned_term(self.cleaned_data["term"])


class BulkBannedWordsForm(forms.Form):
    marketplace = forms.ChoiceField(label=_("Marketplace"), required=False,
                                    choices=[("", _("Every marketplace")), *MARKETPLACE_CHOICES])
    language = forms.ChoiceField(label=_("Language"), required=False,
                                 choices=[("", _("Every language")), *LANGUAGE_CHOICES])
    terms = forms.CharField(label=_("Terms, one per line"), widget=forms.Textarea(
        attrs={"rows": 6}))
    reason = forms.CharField(label=_("Reason"), required=False, max_length=200)

    def clean_terms(self) -> list[str]:
        terms = []
        for line in self.cleaned_data["terms"].splitlines():
            term = banned_term(line)
            if term and term not in terms:
                if len(term) > 100:
                    raise forms.ValidationError(_("A term has at most 100 characters."))
                terms.append(term)
        if not terms:
            raise forms.ValidationError(_("Enter at least one term."))
        return terms


class CheckTextForm(forms.Form):
    marketplace = forms.ChoiceField(label=_("Marketplace"), choices=MARKETPLACE_CHOICES)
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGE_CHOICES, initial="en")
    text = forms.CharField(label=_("Text to check"), widget=forms.Textarea(attrs={"rows": 5}),
                           max_length=20_000)


class TimeZoneChoice:
    UTC = "utc"
    TENANT = "tenant"


class LogFilterForm(forms.Form):
    tenant = forms.ModelChoiceField(label=_("Tenant"), required=False,
                                    queryset=Tenant.objects.order_by("name"))
    store = forms.IntegerField(label=_("Store ID"), required=False, min_value=1)
    job = forms.IntegerField(label=_("Job ID"), required=False, min_value=1)
    node = forms.ModelChoiceField(label=_("Node"), required=False,
                                  queryset=ModelNode.objects.all())
    error_code = forms.ChoiceField(label=_("Error code"), required=False)
    start = forms.DateTimeField(label=_("From"), required=False,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(label=_("Until"), required=False,
                              widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    zone = forms.ChoiceField(label=_("Times in"), required=False, choices=[
        (TimeZoneChoice.UTC, _("UTC")),
        (TimeZoneChoice.TENANT, _("The tenant's time zone (choose a tenant)"))])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["error_code"].choices = [
            ("", _("All requests")), ("any", _("Every failed request")),
            *[(code, code) for code in sorted(ERROR_CODES) if code.startswith("ERR_MODEL")
              or code in {"ERR_NO_MODEL_NODE"}]]

    def time_zone(self):
        data = self.cleaned_data
        if data.get("zone") == TimeZoneChoice.TENANT and data.get("tenant") is not None:
            return data["tenant"].zone
        return UTC

    def bound(self, name: str) -> datetime | None:
        """A filter time read in the chosen zone (naive input), aware."""
        value = self.cleaned_data.get(name)
        if value is None:
            return None
        return timezone.make_aware(value.replace(tzinfo=None), self.time_zone())


class PeriodForm(forms.Form):
    """A period in UTC days: from the first day 00:00 to the day after the last 00:00."""

    start = forms.DateField(label=_("From (UTC)"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To (UTC, inclusive)"), required=False,
                          widget=forms.DateInput(attrs={"type": "date"}))

    def period(self) -> tuple[datetime, datetime]:
        today = timezone.now().astimezone(UTC).date()
        data = self.cleaned_data if self.is_valid() else {}
        end_day = data.get("end") or today
        start_day = data.get("start") or end_day.replace(day=1)
        if start_day > end_day:
            start_day, end_day = end_day, start_day
        return (datetime.combine(start_day, time.min, UTC),
                datetime.combine(end_day + timedelta(days=1), time.min, UTC))


# Evaluating instruction versions (generation.evaluation) -------------------------------------

MAX_SET_CASES = 200
MAX_RUN_ITEMS = 100  # a run is made while the page waits: cases x languages at most this


class EvaluationSetForm(forms.Form):
    """A named list of SKUs: products of any store (by ID or SKU), or cases as JSON."""

    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(label=_("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    store = forms.ModelChoiceField(label=_("Store"), required=False,
                                   queryset=Store.unscoped.select_related("tenant")
                                   .order_by("tenant__name", "display_name"))
    products = forms.CharField(label=_("Products (IDs or SKUs, comma-separated)"),
                               required=False)
    cases_json = forms.CharField(
        label=_("Or cases as JSON"), required=False,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": '[{"sku": "...", "product": '
                                     '{"title": "...", "attributes": {}}, "references": '
                                     '{"en": "..."}}]'}))

    def clean_name(self) -> str:
        from generation.models import EvaluationSet

        name = self.cleaned_data["name"].strip()
        if EvaluationSet.objects.filter(name=name).exists():
            raise forms.ValidationError(_("An evaluation set of this name exists."))
        return name

    def clean(self) -> dict:
        from generation import evaluation

        data = super().clean()
        raw = (data.get("cases_json") or "").strip()
        store, wanted = data.get("store"), (data.get("products") or "").strip()
        if raw:
            try:
                cases = evaluation.parse_cases(raw)
            except evaluation.EvaluationError as error:
                raise forms.ValidationError(_("The cases are not usable: %(error)s"),
                                            params={"error": error}) from error
        elif store is not None and wanted:
            keys = [key.strip() for key in wanted.split(",") if key.strip()]
            found = Product.unscoped.filter(store=store)
            ids = [int(key) for key in keys if key.isdigit()]
            products = list(found.filter(pk__in=ids)) + list(
                found.filter(sku__in=keys).exclude(pk__in=ids))
            if len(products) < len(set(keys)):
                raise forms.ValidationError(_("Some of these products are not in the store."))
            cases = [evaluation.case_from_product(product) for product in products]
        else:
            raise forms.ValidationError(_("Choose a store and its products, or enter the cases "
                                          "as JSON."))
        if len(cases) > MAX_SET_CASES:
            raise forms.ValidationError(_("An evaluation set holds at most %(n)s SKUs."),
                                        params={"n": MAX_SET_CASES})
        data["cases"] = cases
        return data


class EvaluationRunForm(forms.Form):
    version = forms.ModelChoiceField(
        label=_("Instruction version"),
        queryset=InstructionVersion.objects.select_related("instruction_set")
        .exclude(status=InstructionVersion.Status.RETIRED)
        .order_by("instruction_set__marketplace", "instruction_set__kind", "-number"))
    languages = forms.MultipleChoiceField(label=_("Languages"), choices=LANGUAGE_CHOICES,
                                          initial=["en"], widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, cases: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cases = cases

    def clean(self) -> dict:
        data = super().clean()
        languages = data.get("languages") or []
        if self.cases * len(languages) > MAX_RUN_ITEMS:
            raise forms.ValidationError(
                _("At most %(n)s items a run: choose fewer languages or a smaller set."),
                params={"n": MAX_RUN_ITEMS})
        return data
