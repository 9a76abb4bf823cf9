"""The ISV's price list and the stores' subscriptions, for staff in the Django admin; the
quota records and what Stripe knows, read-only."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.validators import MinValueValidator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from billing import services
from billing.models import (
    DailyUsage,
    QuotaPack,
    QuotaPackVersion,
    Reservation,
    StoreSubscription,
    StripeCustomer,
    StripeEvent,
    StripeInvoice,
    UsageEvent,
    marketplace_choices,
)
from portal.admin_site import (
    ReadOnlyMixin,
    StaffModelAdmin,
    TenantOwnedAdmin,
    can_change_in_admin,
)
from stores.models import Store

TERMS = ["licence_price_per_year", "included_calls_per_day", "overage_price_per_call",
         "sku_limit", "marketplaces"]


class QuotaPackForm(forms.ModelForm):
    """The pack plus its current terms; changed terms are saved as a new version."""

    licence_price_per_year = forms.DecimalField(
        label=_("Yearly licence per store (CNY)"), max_digits=12, decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))], initial=Decimal("2880.00"))
    included_calls_per_day = forms.IntegerField(
        label=_("AI calls included per store per day"), min_value=0, initial=500)
    overage_price_per_call = forms.DecimalField(
        label=_("Overage price per call (CNY)"), max_digits=12, decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))], initial=Decimal("0.80"))
    sku_limit = forms.IntegerField(label=_("SKU limit per store"), min_value=0, initial=5000)
    marketplaces = forms.MultipleChoiceField(
        label=_("Marketplaces"), choices=marketplace_choices,
        widget=forms.CheckboxSelectMultiple, initial=["temu", "aliexpress"])

    class Meta:
        model = QuotaPack
        fields = ["code", "name", "is_offered"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.current_version if self.instance.pk else None
        if current is not None:
            for name in TERMS:
                self.initial[name] = getattr(current, name)

    def terms(self) -> services.PackTerms:
        data = self.cleaned_data
        return services.PackTerms(
            licence_price_per_year=data["licence_price_per_year"],
            included_calls_per_day=data["included_calls_per_day"],
            overage_price_per_call=data["overage_price_per_call"],
            sku_limit=data["sku_limit"], marketplaces=tuple(data["marketplaces"]))


class QuotaPackVersionInline(admin.TabularInline):
    model = QuotaPackVersion
    extra = 0
    can_delete = False
    fields = ["number", *TERMS, "created_by", "created_at"]
    readonly_fields = fields
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(QuotaPack)
class QuotaPackAdmin(StaffModelAdmin):
    form = QuotaPackForm
    list_display = ["name", "code", "is_offered", "current_terms", "created_at"]
    search_fields = ["name", "code"]
    inlines = [QuotaPackVersionInline]
    fieldsets = [
        (None, {"fields": ["code", "name", "is_offered"]}),
        (_("Current terms (a change publishes a new version)"), {"fields": TERMS}),
    ]

    @admin.display(description=_("current terms"))
    def current_terms(self, pack: QuotaPack) -> str:
        version = pack.current_version
        if version is None:
            return "—"
        return (f"v{version.number}: CNY {version.licence_price_per_year} / "
                f"{version.included_calls_per_day} / CNY {version.overage_price_per_call}")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        before = obj.current_version
        version = services.publish_pack_terms(obj, form.terms(), by=request.user)
        if before is not None and version.pk != before.pk:
            messages.info(request, _("New terms published as version %(number)s; running "
                                     "subscriptions keep their version until renewal.")
                          % {"number": version.number})

    def has_delete_permission(self, request, obj=None):
        return False  # subscriptions and the ledger refer to its versions


class SubscriptionCreateForm(forms.ModelForm):
    # Staff pick among every tenant's stores, on purpose.
    store = forms.ModelChoiceField(label=_("Store"),
                                   queryset=Store.unscoped.select_related("tenant"))
    pack = forms.ModelChoiceField(label=_("Quota pack"),
                                  queryset=QuotaPack.objects.filter(is_offered=True))

    class Meta:
        model = StoreSubscription
        fields = ["store", "status", "starts_on", "daily_overage_cap"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].label_from_instance = lambda s: f"{s.tenant.name} · {s}"
        self.fields["status"].choices = [
            (s.value, s.label) for s in (StoreSubscription.Status.ACTIVE,
                                         StoreSubscription.Status.TRIAL)]
        self.fields["starts_on"].required = False
        self.fields["starts_on"].help_text = _("Empty: today in the tenant's time zone.")

    def clean(self):
        data = super().clean()
        self.subscription = None
        if self.errors:
            return data
        try:
            # Validated and written here so that a refusal shows on the form.
            self.subscription = services.subscribe_store(
                data["store"], data["pack"], by=self.request_user, status=data["status"],
                starts_on=data.get("starts_on"), daily_overage_cap=data.get("daily_overage_cap"))
        except services.BillingError as error:
            raise forms.ValidationError(str(error)) from error
        return data

    def save(self, commit=True):
        return self.subscription

    def save_m2m(self):
        pass


@admin.register(StoreSubscription)
class StoreSubscriptionAdmin(TenantOwnedAdmin):
    list_display = ["store", "tenant", "pack_version", "status", "starts_on", "ends_on",
                    "daily_overage_cap"]
    list_filter = ["status", "pack_version__pack"]
    search_fields = ["store__display_name", "tenant__name"]
    list_select_related = ["store", "tenant", "pack_version__pack"]
    readonly_fields = ["tenant", "store", "pack_version", "status", "starts_on", "ends_on",
                       "daily_overage_cap", "renewed_from", "cancelled_at",
                       "licence_statement", "created_at", "updated_at"]
    actions = ["renew", "cancel"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SubscriptionCreateForm
            form = super().get_form(request, obj, change=change, **kwargs)
            return type("BoundSubscriptionCreateForm", (form,), {"request_user": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["store", "pack", "status", "starts_on", "daily_overage_cap"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            form.instance = form.subscription  # already written by the form's clean()
            return
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Renew the selected subscriptions (current pack version)"))
    def renew(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, services.renew_subscription, _("%(count)s renewed."))

    @admin.action(description=_("Cancel the selected subscriptions now"))
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, services.cancel_subscription, _("%(count)s cancelled."))

    def _apply(self, request, queryset, service, done_message) -> None:
        if not can_change_in_admin(request):
            messages.error(request, _("Only platform admins can change subscriptions."))
            return
        done = 0
        for subscription in queryset:
            try:
                service(subscription, by=request.user)
            except services.BillingError as error:
                messages.error(request, f"{subscription}: {error}")
            else:
                done += 1
        if done:
            messages.success(request, done_message % {"count": done})


class ReadOnlyAdmin(ReadOnlyMixin, TenantOwnedAdmin):
    pass


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    """The ledger, which is also the outbox of Stripe meter events: "reported to Stripe at"
    empty means still queued."""

    list_display = ["created_at", "tenant", "store", "day", "kind", "unit_price",
                    "reported_to_stripe_at", "stripe_meter_event_id", "statement"]
    list_filter = ["kind", ("reported_to_stripe_at", admin.EmptyFieldListFilter),
                   ("statement", admin.EmptyFieldListFilter), "day"]
    search_fields = ["item_key", "store__display_name", "tenant__name", "stripe_meter_event_id"]
    list_select_related = ["tenant", "store", "statement"]


@admin.register(DailyUsage)
class DailyUsageAdmin(ReadOnlyAdmin):
    list_display = ["day", "tenant", "store", "included_used", "overage_used", "reserved"]
    list_filter = ["day"]
    search_fields = ["store__display_name", "tenant__name"]
    list_select_related = ["tenant", "store"]


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ["reserved_at", "tenant", "store", "item_key", "state", "expires_at"]
    list_filter = ["state"]
    search_fields = ["item_key", "store__display_name", "tenant__name"]
    list_select_related = ["tenant", "store"]


# Stripe --------------------------------------------------------------------------------------

@admin.register(StripeCustomer)
class StripeCustomerAdmin(ReadOnlyAdmin):
    list_display = ["tenant", "stripe_customer_id", "usage_subscription_id",
                    "usage_subscription_generation", "payment_failed_at", "updated_at"]
    list_filter = [("payment_failed_at", admin.EmptyFieldListFilter),
                   ("usage_subscription_id", admin.EmptyFieldListFilter)]
    search_fields = ["tenant__name", "stripe_customer_id", "usage_subscription_id"]
    list_select_related = ["tenant"]


@admin.register(StripeInvoice)
class StripeInvoiceAdmin(ReadOnlyAdmin):
    list_display = ["stripe_invoice_id", "tenant", "status", "payment_failed", "total",
                    "amount_due", "amount_paid", "period_start", "period_end",
                    "stripe_subscription_id"]
    list_filter = ["status", "payment_failed"]
    search_fields = ["stripe_invoice_id", "stripe_subscription_id", "tenant__name"]
    list_select_related = ["tenant"]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyMixin, StaffModelAdmin):
    """The webhook events already processed (a replay of one of them changes nothing)."""

    list_display = ["processed_at", "type", "event_id", "tenant", "created"]
    list_filter = ["type"]
    search_fields = ["event_id", "type", "tenant__name"]
    list_select_related = ["tenant"]
