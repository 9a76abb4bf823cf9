from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from effects.models import Experiment
from generation.content import ContentKind
from generation.models import InstructionVersion
from stores.models import Store


class NewExperimentForm(forms.Form):
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.unscoped.none())
    name = forms.CharField(label=_("Name"), max_length=200)
    content_kind = forms.ChoiceField(label=_("Content kind"), choices=ContentKind.choices)
    version_a = forms.ModelChoiceField(
        label=_("Arm A"), required=False, queryset=InstructionVersion.objects.none(),
        empty_label=_("Control: keep the current text"))
    version_b = forms.ModelChoiceField(label=_("Arm B"),
                                       queryset=InstructionVersion.objects.none())
    sku_count = forms.IntegerField(label=_("SKUs"), min_value=4, max_value=5000, initial=200,
                                   help_text=_("Drawn at random from the store's catalog."))
    planned_days = forms.IntegerField(label=_("Days"), min_value=Experiment.MIN_DAYS,
                                      max_value=365, initial=Experiment.MIN_DAYS)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = Store.objects.all()  # the tenant in scope's stores
        # Drafts too: trying a new version against the published one is the point.
        versions = InstructionVersion.objects.select_related("instruction_set").exclude(
            status=InstructionVersion.Status.RETIRED).order_by("instruction_set__name",
                                                               "-number")
        self.fields["version_a"].queryset = versions
        self.fields["version_b"].queryset = versions
        for name in ("version_a", "version_b"):
            self.fields[name].label_from_instance = (
                lambda v: f"{v.instruction_set} v{v.number}")
