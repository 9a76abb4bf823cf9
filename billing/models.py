"""Quota packs (versioned price lists), store subscriptions, daily quota counters,
reservations and the append-only usage ledger.

Money is Decimal in CNY with two places (fen). Days are the tenant's local days.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from marketplaces.sites import MARKETPLACE_NAMES, Marketplace
from tenants.scope import TenantOwnedModel, TenantScopedManager

MONEY = {"max_digits": 12, "decimal_places": 2, "validators": [MinValueValidator(Decimal("0"))]}


def marketplace_choices() -> list[tuple[str, str]]:
    return [(m.value, MARKETPLACE_NAMES[m]) for m in Marketplace]


class QuotaPack(models.Model):
    """A product on the ISV's price list, e.g. "Standard". Its terms live in versions."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    is_offered = models.BooleanField(_("offered"), default=True,
                                     help_text=_("Only offered packs can be given to new "
                                                 "subscriptions; running ones are not affected."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("quota pack")
        verbose_name_plural = _("quota packs")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def current_version(self) -> QuotaPackVersion | None:
        return self.versions.order_by("-number").first()


class QuotaPackVersion(models.Model):
    """The terms of a pack from one price change to the next. Never changed once written:
    a price change adds a new version, and running subscriptions keep theirs until renewal."""

    pack = models.ForeignKey(QuotaPack, verbose_name=_("quota pack"), on_delete=models.PROTECT,
                             related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    licence_price_per_year = models.DecimalField(_("yearly licence per store (CNY)"), **MONEY)
    included_calls_per_day = models.PositiveIntegerField(_("AI calls included per store per day"))
    overage_price_per_call = models.DecimalField(_("overage price per call (CNY)"), **MONEY)
    sku_limit = models.PositiveIntegerField(_("SKU limit per store"))
    marketplaces = models.JSONField(_("marketplaces"), default=list,
                                    help_text=_("The marketplaces whose stores the pack covers."))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"),
                                   null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("quota pack version")
        verbose_name_plural = _("quota pack versions")
        ordering = ["pack", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["pack", "number"], name="one_number_per_pack_version"),
        ]

    def __str__(self) -> str:
        return f"{self.pack.name} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("Quota pack versions are immutable; publish a new version instead.")
        super().save(*args, **kwargs)

    def covers(self, marketplace: str) -> bool:
        return marketplace in self.marketplaces


class StoreSubscription(TenantOwnedModel):
    """One store (one marketplace site) licensed under one pack version for one period.
    Renewal writes the next period as a new row on the pack's current version."""

    class Status(models.TextChoices):
        TRIAL = "trial", _("Trial")
        ACTIVE = "active", _("Active")
        PAST_DUE = "past_due", _("Past due")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    USABLE = (Status.TRIAL, Status.ACTIVE)

    store = models.ForeignKey("stores.Store", verbose_name=_("store"), on_delete=models.PROTECT,
                              related_name="subscriptions")
    pack_version = models.ForeignKey(QuotaPackVersion, verbose_name=_("pack version"),
                                     on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.ACTIVE)
    starts_on = models.DateField(_("period starts"))
    ends_on = models.DateField(_("period ends"), help_text=_("Last day of the period, inclusive."))
    daily_overage_cap = models.PositiveIntegerField(
        _("daily overage cap"), null=True, blank=True,
        help_text=_("Most overage calls per day beyond the included ones. Empty: no cap; "
                    "0: stop at the included calls."))
    renewed_from = models.OneToOneField("self", verbose_name=_("renewal of"), null=True,
                                        blank=True, on_delete=models.PROTECT,
                                        related_name="renewal")
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    licence_statement = models.ForeignKey(
        "billing.UsageStatement", verbose_name=_("licence billed on"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="licences",
        help_text=_("The statement (or adjustment) that bills this period's licence."))
    stripe_subscription_id = models.CharField(_("Stripe subscription"), max_length=100,
                                              blank=True, db_index=True)
    stripe_subscription_item_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("store subscription")
        verbose_name_plural = _("store subscriptions")
        ordering = ["store", "-starts_on"]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_on__gte=models.F("starts_on")),
                                   name="subscription_period_not_reversed"),
        ]
        indexes = [models.Index(fields=["store", "status", "starts_on"])]

    def __str__(self) -> str:
        return f"{self.store} · {self.pack_version} · {self.starts_on}–{self.ends_on}"

    @property
    def is_usable(self) -> bool:
        return self.status in self.USABLE


class DailyUsage(TenantOwnedModel):
    """The quota counter of one store on one local day. `reserved` are calls in flight;
    included_used + overage_used always equals that day's events in the ledger."""

    store = models.ForeignKey("stores.Store", verbose_name=_("store"), on_delete=models.PROTECT,
                              related_name="+")
    day = models.DateField(_("day"))
    included_used = models.PositiveIntegerField(_("included calls used"), default=0)
    overage_used = models.PositiveIntegerField(_("overage calls used"), default=0)
    reserved = models.PositiveIntegerField(_("calls in progress"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("daily usage")
        verbose_name_plural = _("daily usage")
        ordering = ["-day", "store"]
        constraints = [
            models.UniqueConstraint(fields=["store", "day"], name="one_counter_per_store_and_day"),
        ]

    def __str__(self) -> str:
        return f"{self.store} {self.day}"


class Reservation(TenantOwnedModel):
    """One AI call's hold on the quota, from before the model call until it is settled
    (content reached review) or released (failure, or expiry after a crashed worker)."""

    class State(models.TextChoices):
        RESERVED = "reserved", _("Reserved")
        SETTLED = "settled", _("Settled")
        RELEASED = "released", _("Released")

    item_key = models.CharField(_("generation item"), max_length=200, unique=True)
    store = models.ForeignKey("stores.Store", verbose_name=_("store"), on_delete=models.PROTECT,
                              related_name="+")
    subscription = models.ForeignKey(StoreSubscription, on_delete=models.PROTECT,
                                     related_name="+")
    day = models.DateField(_("day"))
    state = models.CharField(_("state"), max_length=20, choices=State.choices,
                             default=State.RESERVED)
    included_calls_per_day = models.PositiveIntegerField()
    overage_price_per_call = models.DecimalField(**MONEY)
    reserved_at = models.DateTimeField(_("reserved at"))
    expires_at = models.DateTimeField(_("expires at"))
    finished_at = models.DateTimeField(_("settled or released at"), null=True, blank=True)

    class Meta:
        verbose_name = _("quota reservation")
        verbose_name_plural = _("quota reservations")
        ordering = ["-reserved_at"]
        indexes = [
            models.Index(fields=["expires_at"], condition=models.Q(state="reserved"),
                         name="reservation_open_expiry"),
        ]

    def __str__(self) -> str:
        return self.item_key


class UsageEventQuerySet(models.QuerySet):
    """The ledger is append-only: only the Stripe reporting fields and the statement that
    bills a row may change later."""

    STRIPE_FIELDS = frozenset({"reported_to_stripe_at", "stripe_meter_event_id"})
    MUTABLE_FIELDS = STRIPE_FIELDS | {"statement", "statement_id"}

    def update(self, **kwargs):
        if not set(kwargs) <= self.MUTABLE_FIELDS:
            raise ValueError("Usage events are append-only.")
        return super().update(**kwargs)

    def delete(self):
        raise ValueError("Usage events are append-only.")


class UsageEvent(TenantOwnedModel):
    """The ledger: one row per settled AI call. `item_key` is unique, so a retried task can
    never charge twice."""

    class Kind(models.TextChoices):
        INCLUDED = "included", _("Included")
        OVERAGE = "overage", _("Overage")

    # PROTECT: deleting a tenant, store or subscription must not erase what was billed.
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT)
    store = models.ForeignKey("stores.Store", verbose_name=_("store"), on_delete=models.PROTECT,
                              related_name="+")
    subscription = models.ForeignKey(StoreSubscription, verbose_name=_("subscription"),
                                     on_delete=models.PROTECT, related_name="usage_events")
    item_key = models.CharField(_("generation item"), max_length=200, unique=True)
    day = models.DateField(_("day"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    unit_price = models.DecimalField(_("unit price (CNY)"), **MONEY)
    created_at = models.DateTimeField(_("settled at"))
    reported_to_stripe_at = models.DateTimeField(_("reported to Stripe at"), null=True,
                                                 blank=True)
    stripe_meter_event_id = models.CharField(_("Stripe meter event identifier"), max_length=100,
                                             blank=True)
    # The statement (or adjustment) that bills this row: set when a draft is drawn up, so a
    # statement's header, by-day and by-job figures are sums over the same rows, and a row
    # reaching the ledger after its month's statement was issued goes on an adjustment.
    statement = models.ForeignKey("billing.UsageStatement", verbose_name=_("billed on"),
                                  null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="usage_events")

    objects = TenantScopedManager.from_queryset(UsageEventQuerySet)()
    unscoped = models.Manager.from_queryset(UsageEventQuerySet)()  # noqa: DJ012

    class Meta:
        verbose_name = _("usage event")
        verbose_name_plural = _("usage events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "day"]),
            models.Index(fields=["store", "day"]),
            models.Index(fields=["created_at"], condition=models.Q(
                kind="overage", reported_to_stripe_at__isnull=True),
                name="usage_event_unreported"),
        ]

    def __str__(self) -> str:
        return self.item_key

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("Usage events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Usage events are append-only.")


# Stripe ------------------------------------------------------------------------------------

class StripeCustomer(TenantOwnedModel):
    """The tenant's one Stripe customer, and the billing state Stripe's webhooks report."""

    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.PROTECT,
                                  related_name="stripe_customer")
    stripe_customer_id = models.CharField(_("Stripe customer"), max_length=100, unique=True)
    payment_failed_at = models.DateTimeField(
        _("payment failed at"), null=True, blank=True,
        help_text=_("Set when Stripe reports a failed invoice payment; cleared when one is "
                    "paid."))
    usage_subscription_id = models.CharField(
        _("usage subscription"), max_length=100, blank=True, default="",
        help_text=_("The Stripe subscription on the metered overage price that bills this "
                    "tenant's meter usage; cleared when Stripe deletes it."))
    usage_subscription_generation = models.PositiveIntegerField(
        _("usage subscription generation"), default=0,
        help_text=_("Counts the usage subscriptions Stripe deleted, so that a replacement "
                    "is created under a new idempotency key."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("Stripe customer")
        verbose_name_plural = _("Stripe customers")

    def __str__(self) -> str:
        return self.stripe_customer_id

    @property
    def in_arrears(self) -> bool:
        return self.payment_failed_at is not None


class StripeEvent(models.Model):
    """A webhook event already processed: a replay of the same id changes nothing."""

    event_id = models.CharField(_("Stripe event"), max_length=100, unique=True)
    type = models.CharField(_("type"), max_length=100)
    tenant = models.ForeignKey("tenants.Tenant", verbose_name=_("tenant"), null=True,
                               blank=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(_("created at Stripe"), null=True, blank=True)
    processed_at = models.DateTimeField(_("processed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("Stripe webhook event")
        verbose_name_plural = _("Stripe webhook events")
        ordering = ["-processed_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class StripeInvoice(TenantOwnedModel):
    """An invoice Stripe drew up for the tenant, as its webhooks last described it.
    Amounts are CNY; Stripe sends minor units (fen)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        OPEN = "open", _("Open")
        PAID = "paid", _("Paid")
        UNCOLLECTIBLE = "uncollectible", _("Uncollectible")
        VOID = "void", _("Void")

    stripe_invoice_id = models.CharField(_("Stripe invoice"), max_length=100, unique=True)
    stripe_subscription_id = models.CharField(_("Stripe subscription"), max_length=100,
                                              blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.DRAFT)
    payment_failed = models.BooleanField(_("payment failed"), default=False)
    currency = models.CharField(_("currency"), max_length=3, default="cny")
    total = models.DecimalField(_("total (CNY)"), max_digits=12, decimal_places=2,
                                default=Decimal("0.00"))
    amount_due = models.DecimalField(_("amount due (CNY)"), max_digits=12, decimal_places=2,
                                     default=Decimal("0.00"))
    amount_paid = models.DecimalField(_("amount paid (CNY)"), max_digits=12, decimal_places=2,
                                      default=Decimal("0.00"))
    period_start = models.DateTimeField(_("period start"), null=True, blank=True)
    period_end = models.DateTimeField(_("period end"), null=True, blank=True)
    hosted_invoice_url = models.URLField(_("invoice page"), max_length=500, blank=True)
    stripe_updated_at = models.DateTimeField(
        _("last Stripe event at"), null=True, blank=True,
        help_text=_("When Stripe created the event last applied; older events are ignored."))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("Stripe invoice")
        verbose_name_plural = _("Stripe invoices")
        ordering = ["-period_start", "-id"]

    def __str__(self) -> str:
        return self.stripe_invoice_id


# Monthly usage statements (the finance console) --------------------------------------------

class UsageStatement(TenantOwnedModel):
    """What one tenant owes for one calendar month: a line per store. Drawn up as a draft
    (regenerated from the ledger while still a draft), reviewed and approved by finance,
    issued to the seller and finally paid. Every change is kept in `StatementEvent`."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        UNDER_REVIEW = "under_review", _("Under review")
        APPROVED = "approved", _("Approved")
        ISSUED = "issued", _("Issued")
        PARTIALLY_PAID = "partially_paid", _("Partially paid")
        PAID = "paid", _("Paid")

    # What sellers may see: only statements finance has issued.
    VISIBLE_TO_SELLERS = (Status.ISSUED, Status.PARTIALLY_PAID, Status.PAID)
    # Issued to the seller: its figures are final; later usage goes on an adjustment.
    ISSUED_STATUSES = VISIBLE_TO_SELLERS

    number = models.CharField(_("statement number"), max_length=40, unique=True)
    period = models.DateField(_("month"), help_text=_("The first day of the month."))
    sequence = models.PositiveIntegerField(
        _("adjustment number"), default=0,
        help_text=_("0: the month's statement; 1, 2, ...: its adjustments (supplementary "
                    "statements for usage that reached the ledger after it was issued)."))
    adjusts = models.ForeignKey("self", verbose_name=_("adjusts statement"), null=True,
                                blank=True, on_delete=models.PROTECT,
                                related_name="adjustments")
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.DRAFT)
    licence_amount = models.DecimalField(_("licences (CNY)"), max_digits=12, decimal_places=2,
                                         default=Decimal("0.00"))
    included_calls = models.PositiveIntegerField(_("included calls used"), default=0)
    overage_calls = models.PositiveIntegerField(_("overage calls"), default=0)
    overage_amount = models.DecimalField(_("overage (CNY)"), max_digits=12, decimal_places=2,
                                         default=Decimal("0.00"))
    total = models.DecimalField(_("total (CNY)"), max_digits=12, decimal_places=2,
                                default=Decimal("0.00"))
    amount_paid = models.DecimalField(_("amount paid (CNY)"), max_digits=12,
                                      decimal_places=2, default=Decimal("0.00"))
    generated_at = models.DateTimeField(_("drawn up at"))
    drawn_up_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("drawn up by"),
                                    null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("submitted by"),
                                     null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("approved by"),
                                    null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    # Frozen when issued: the ISV's legal details and the seller's, as printed on the bill.
    issuer = models.JSONField(_("issued by (legal details)"), default=dict, blank=True)
    billed_to = models.JSONField(_("billed to"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("usage statement")
        verbose_name_plural = _("usage statements")
        ordering = ["-period", "tenant__name", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "period", "sequence"],
                                    name="one_statement_per_tenant_month_and_adjustment"),
        ]

    def __str__(self) -> str:
        return self.number or f"{self.tenant} {self.period:%Y-%m}"

    @property
    def is_adjustment(self) -> bool:
        return self.sequence > 0

    @property
    def outstanding(self) -> Decimal:
        return self.total - self.amount_paid


class StatementLine(models.Model):
    """One store's part of a statement. `overage_detail` splits the overage by unit price
    (a renewal on a new pack version can change the price within the month):
    [{"unit_price": "0.80", "calls": 3, "amount": "2.40"}, ...]."""

    statement = models.ForeignKey(UsageStatement, on_delete=models.CASCADE,
                                  related_name="lines")
    store = models.ForeignKey("stores.Store", verbose_name=_("store"), on_delete=models.PROTECT,
                              related_name="+")
    licence_amount = models.DecimalField(_("licence (CNY)"), max_digits=12, decimal_places=2)
    included_calls = models.PositiveIntegerField(_("included calls used"))
    overage_calls = models.PositiveIntegerField(_("overage calls"))
    overage_amount = models.DecimalField(_("overage (CNY)"), max_digits=12, decimal_places=2)
    overage_detail = models.JSONField(default=list)
    total = models.DecimalField(_("total (CNY)"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        ordering = ["statement", "store__display_name", "store_id"]

    def __str__(self) -> str:
        return f"{self.statement} · {self.store}"


class StatementEvent(models.Model):
    """The statement's history: drawn up, redrawn, status changes and comments."""

    statement = models.ForeignKey(UsageStatement, on_delete=models.CASCADE,
                                  related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("who"), null=True,
                              blank=True, on_delete=models.PROTECT, related_name="+")
    from_status = models.CharField(_("from"), max_length=20, blank=True,
                                   choices=UsageStatement.Status.choices)
    to_status = models.CharField(_("to"), max_length=20, blank=True,
                                 choices=UsageStatement.Status.choices)
    comment = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        verbose_name = _("statement event")
        verbose_name_plural = _("statement events")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.statement} {self.from_status}->{self.to_status}"


class StatementPayment(models.Model):
    """A payment finance recorded against an issued statement. Several partial payments may
    add up to the total; a statement is paid when they do."""

    class Method(models.TextChoices):
        BANK_TRANSFER = "bank_transfer", _("Bank transfer")
        ALIPAY = "alipay", _("Alipay")
        WECHAT_PAY = "wechat_pay", _("WeChat Pay")
        STRIPE = "stripe", _("Stripe")
        OTHER = "other", _("Other")

    statement = models.ForeignKey(UsageStatement, on_delete=models.PROTECT,
                                  related_name="payments")
    amount = models.DecimalField(_("amount (CNY)"), **MONEY)
    paid_on = models.DateField(_("paid on"))
    method = models.CharField(_("method"), max_length=20, choices=Method.choices)
    reference = models.CharField(_("reference"), max_length=200)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("recorded by"),
                                    on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("statement payment")
        verbose_name_plural = _("statement payments")
        ordering = ["paid_on", "id"]

    def __str__(self) -> str:
        return f"{self.statement} {self.amount} {self.paid_on}"


class StripeDayReport(TenantOwnedModel):
    """What was sent to Stripe for one store's overage on one local day: the meter event of
    the closed day (sequence 0), a correction meter event within Stripe's 24 hours
    (sequence 1, 2, ...), a correction invoice item after them (a debit, or a credit when
    reconciliation finds Stripe holding more), or the per-call meter events sent before the
    per-day reporting (the cut-over records them, so they are never sent again).

    `identifier` is `store-<id>-<yyyymmdd>` plus `-<sequence>` for corrections: the meter
    event's identifier (Stripe de-duplicates it for 24 hours) or the invoice item's
    idempotency key. A row is written before the call with `sent_at` empty and marked after
    Stripe accepted it, so a crash resends the same identifier."""

    class Kind(models.TextChoices):
        METER_EVENT = "meter_event", _("Meter event")
        INVOICE_ITEM = "invoice_item", _("Invoice item")
        PER_CALL = "per_call", _("Per-call meter events (before per-day reporting)")

    store = models.ForeignKey("stores.Store", verbose_name=_("store"), on_delete=models.PROTECT,
                              related_name="+")
    day = models.DateField(_("day"))
    sequence = models.PositiveIntegerField(_("sequence"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    identifier = models.CharField(_("identifier"), max_length=100, unique=True)
    value_fen = models.BigIntegerField(
        _("value (fen)"), help_text=_("Negative for a credit invoice item."))
    timestamp = models.DateTimeField(_("meter event time"), null=True, blank=True)
    stripe_object_id = models.CharField(_("Stripe object"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Set (and committed) before the first call to Stripe: a report never attempted cannot
    # be at Stripe, however old; one attempted long ago may be, with its answer lost.
    attempted_at = models.DateTimeField(_("first sent at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("accepted by Stripe at"), null=True, blank=True)

    class Meta:
        verbose_name = _("Stripe day report")
        verbose_name_plural = _("Stripe day reports")
        ordering = ["day", "store", "sequence"]
        constraints = [models.UniqueConstraint(fields=["store", "day", "sequence"],
                                               name="stripe_day_report_sequence")]
        indexes = [models.Index(fields=["tenant", "day"])]

    def __str__(self) -> str:
        return self.identifier
