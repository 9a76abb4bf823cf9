from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from billing.models import StatementPayment
from billing.services import MAX_DAILY_OVERAGE_CAP
from stores.models import Store
from stores.selectors import listed_stores


class OverageCapForm(forms.Form):
    """The owner's cap on overage calls per day for one store; empty means no cap."""

    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.unscoped.none())
    daily_overage_cap = forms.IntegerField(
        label=_("Daily overage cap (calls)"), min_value=0, max_value=MAX_DAILY_OVERAGE_CAP,
        required=False,
        help_text=_("Empty: no cap. 0: stop at the included calls."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = listed_stores()  # in scope, not archived


class PaymentForm(forms.Form):
    """*Mark paid*: what was received, when, how, and the bank's or provider's reference."""

    amount = forms.DecimalField(label=_("Amount received (CNY)"), max_digits=12,
                                decimal_places=2, min_value=0)
    paid_on = forms.DateField(label=_("Paid on"), widget=forms.DateInput(attrs={"type": "date"}))
    method = forms.ChoiceField(label=_("Method"), choices=StatementPayment.Method.choices)
    reference = forms.CharField(label=_("Reference"), max_length=200,
                                help_text=_("The bank transfer or payment transaction number."))
