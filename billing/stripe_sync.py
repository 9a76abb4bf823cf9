"""Everything we send to Stripe: the tenant's customer, the yearly licence per store, the
tenant's usage subscription on the metered overage price, and the overage as Billing Meter
events. See docs/architecture.md, "Stripe".

Offline billing mode: with no STRIPE_SECRET_KEY nothing here calls Stripe; every function
returns without sending and without marking anything, so the ledger keeps the overage queued
until a key is configured.

The outbox is the ledger itself: an overage `UsageEvent` with no `reported_to_stripe_at` is
pending (a partial index keeps them cheap to find). `report_overage` sends each one as a meter
event whose `identifier` is derived from the event's item key (stable across retries, so Stripe
deduplicates a resend), and marks it only after Stripe accepted it, storing the identifier
Stripe echoed back. A Stripe outage stops the run and leaves the rest pending for the next run.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import stripe
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from billing.models import Reservation, StoreSubscription, StripeCustomer, UsageEvent
from billing.quota import day_starts_at, local_day
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# Stripe is unreachable or failing as a whole: stop and let the next run retry.
OUTAGE_ERRORS = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError,
                 stripe.AuthenticationError)
OVERAGE = UsageEvent.Kind.OVERAGE


def is_online() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def client() -> stripe.StripeClient | None:
    """A client for the configured Stripe API base, or None in offline billing mode."""
    if not is_online():
        return None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    )


# Customers ---------------------------------------------------------------------------------

def ensure_customer(tenant: Tenant, stripe_client: stripe.StripeClient | None = None
                    ) -> str | None:
    """The tenant's Stripe customer id, created on first use (one per tenant). The
    idempotency key makes a create that raced or crashed before we stored it return the same
    customer. None in offline mode while the tenant has none."""
    existing = StripeCustomer.unscoped.filter(tenant=tenant).first()
    if existing is not None:
        return existing.stripe_customer_id
    stripe_client = stripe_client or client()
    if stripe_client is None:
        return None
    customer = stripe_client.v1.customers.create(
        params={"name": tenant.name,
                "metadata": {"tenant_id": str(tenant.pk), "tenant_slug": tenant.slug}},
        options={"idempotency_key": f"customer-tenant-{tenant.pk}"})
    with transaction.atomic():
        row, _created = StripeCustomer.unscoped.get_or_create(
            tenant=tenant, defaults={"stripe_customer_id": customer.id})
    return row.stripe_customer_id


# Licence subscriptions ---------------------------------------------------------------------

def push_licence_subscription(subscription: StoreSubscription,
                              stripe_client: stripe.StripeClient | None = None) -> str | None:
    """Create the Stripe subscription that invoices one store's yearly licence for this
    period (active periods only; trials are free). Idempotent: a period that has one keeps it.
    Returns the Stripe subscription id, or None when nothing was (or could be) created."""
    subscription.refresh_from_db()
    if subscription.stripe_subscription_id:
        return subscription.stripe_subscription_id
    if subscription.status != StoreSubscription.Status.ACTIVE:
        return None
    stripe_client = stripe_client or client()
    if stripe_client is None or not settings.STRIPE_LICENCE_PRICE_ID:
        return None
    tenant = subscription.tenant
    customer_id = ensure_customer(tenant, stripe_client)
    params: dict = {
        "customer": customer_id,
        "items": [{"price": settings.STRIPE_LICENCE_PRICE_ID, "quantity": 1}],
        "collection_method": "send_invoice",
        "days_until_due": 30,
        # Our renewal writes the next period (possibly at a new price) as a new subscription.
        "cancel_at": int(day_starts_at(tenant, subscription.ends_on
                                       + timedelta(days=1)).timestamp()),
        "metadata": {"tenant_id": str(tenant.pk), "store_id": str(subscription.store_id),
                     "store_subscription_id": str(subscription.pk)},
    }
    if subscription.starts_on > local_day(tenant):
        params["trial_end"] = int(day_starts_at(tenant, subscription.starts_on).timestamp())
    created = stripe_client.v1.subscriptions.create(
        params=params, options={"idempotency_key": f"licence-subscription-{subscription.pk}"})
    items = (created.to_dict().get("items") or {}).get("data") or []
    StoreSubscription.unscoped.filter(pk=subscription.pk, stripe_subscription_id="").update(
        stripe_subscription_id=created.id,
        stripe_subscription_item_id=items[0]["id"] if items else "")
    return created.id


def push_pending_licences() -> int:
    """Create the Stripe subscriptions of active periods that have none yet (after an outage
    or when keys were added later). Stops at the first outage; returns how many were made."""
    stripe_client = client()
    if stripe_client is None or not settings.STRIPE_LICENCE_PRICE_ID:
        return 0
    pending = StoreSubscription.unscoped.filter(status=StoreSubscription.Status.ACTIVE,
                                                stripe_subscription_id="").order_by("pk")
    return _catch_up(pending.select_related("tenant"),
                     lambda subscription: push_licence_subscription(subscription, stripe_client),
                     lambda subscription: f"the licence of subscription {subscription.pk}")


def _catch_up(rows, action, what) -> int:
    """Run `action` on each row; count the rows it did something for. A Stripe outage stops
    the run (the next one retries); a refusal of one row is logged, with `what(row)`, and the
    run goes on."""
    done = 0
    for row in rows:
        try:
            if action(row):
                done += 1
        except OUTAGE_ERRORS as error:
            logger.warning("Stripe unavailable, %s and the rest wait: %s", what(row), error)
            break
        except stripe.StripeError as error:
            logger.error("Stripe refused %s: %s", what(row), error)
    return done


def push_licence_after_commit(subscription: StoreSubscription) -> None:
    """Called when a period becomes active: try now, after the commit, to create its licence
    subscription and (for the tenant's first active store) the tenant's usage subscription;
    on any failure the settlement schedule retries (push_pending_licences,
    push_pending_usage_subscriptions)."""
    if not is_online():
        return

    def push() -> None:
        try:
            push_licence_subscription(subscription)
        except stripe.StripeError as error:
            logger.warning("Licence subscription %s not sent yet: %s", subscription.pk, error)
        try:
            ensure_usage_subscription(subscription.tenant)
        except stripe.StripeError as error:
            logger.warning("Usage subscription of tenant %s not sent yet: %s",
                           subscription.tenant_id, error)

    transaction.on_commit(push)


# The usage subscription (one per tenant) ---------------------------------------------------

def needs_usage_subscription(tenant: Tenant) -> bool:
    """A tenant is billed for overage while it has an active store subscription. Trials are
    free, so a tenant with trials only gets none (see docs/architecture.md, "Stripe")."""
    return StoreSubscription.unscoped.filter(
        tenant=tenant, status=StoreSubscription.Status.ACTIVE).exists()


def ensure_usage_subscription(tenant: Tenant, stripe_client: stripe.StripeClient | None = None
                              ) -> str | None:
    """The tenant's one Stripe subscription on the metered overage price (Stripe bills meter
    events only to a customer subscribed to a price on that meter), created on first need.
    Idempotent: a stored one is kept, and a create that crashed or lost its answer is repeated
    under the same idempotency key, so Stripe returns the same subscription. The key carries
    the generation, which the deletion webhook bumps, so a replacement is a new subscription.
    None in offline mode, without STRIPE_OVERAGE_PRICE_ID, or while the tenant has no active
    store subscription and none was made before."""
    existing = StripeCustomer.unscoped.filter(tenant=tenant).first()
    if existing is not None and existing.usage_subscription_id:
        return existing.usage_subscription_id
    if not settings.STRIPE_OVERAGE_PRICE_ID or not needs_usage_subscription(tenant):
        return None
    stripe_client = stripe_client or client()
    if stripe_client is None:
        return None
    customer_id = ensure_customer(tenant, stripe_client)
    customer = StripeCustomer.unscoped.get(tenant=tenant)
    generation = customer.usage_subscription_generation
    created = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer_id,
            "items": [{"price": settings.STRIPE_OVERAGE_PRICE_ID}],
            "collection_method": "send_invoice",
            "days_until_due": 30,
            "metadata": {"tenant_id": str(tenant.pk), "purpose": "overage"},
        },
        options={"idempotency_key": f"usage-subscription-tenant-{tenant.pk}-{generation}"})
    # Only into the generation it was made for: a deletion in between must not be undone.
    StripeCustomer.unscoped.filter(pk=customer.pk, usage_subscription_id="",
                                   usage_subscription_generation=generation).update(
        usage_subscription_id=created.id, updated_at=timezone.now())
    customer.refresh_from_db()
    return customer.usage_subscription_id or None


def push_pending_usage_subscriptions() -> int:
    """The catch-up: usage subscriptions of tenants with an active store subscription that
    have none (after an outage, a deletion at Stripe, or when the price was configured later).
    Stops at the first outage; returns how many were made."""
    stripe_client = client()
    if stripe_client is None or not settings.STRIPE_OVERAGE_PRICE_ID:
        return 0
    active = StoreSubscription.unscoped.filter(status=StoreSubscription.Status.ACTIVE)
    covered = StripeCustomer.unscoped.exclude(usage_subscription_id="").values("tenant_id")
    pending = Tenant.objects.filter(pk__in=active.values("tenant_id")).exclude(
        pk__in=covered).order_by("pk")
    return _catch_up(pending, lambda tenant: ensure_usage_subscription(tenant, stripe_client),
                     lambda tenant: f"the usage subscription of tenant {tenant.pk}")


# Ending the usage subscription ------------------------------------------------------------

# Store periods that keep the tenant's usage subscription: an active one (also a renewal that
# starts later) and a past-due one, which may still pay and come back.
KEEPS_USAGE_SUBSCRIPTION = (StoreSubscription.Status.ACTIVE, StoreSubscription.Status.PAST_DUE)
# Stripe refuses meter events older than this: overage older than it can never be sent (it
# stays in reconciliation) and must not hold the cancellation back for ever.
METER_EVENT_MAX_AGE = timedelta(days=35)


def keeps_usage_subscription(tenant: Tenant) -> bool:
    return StoreSubscription.unscoped.filter(
        tenant=tenant, status__in=KEEPS_USAGE_SUBSCRIPTION).exists()


def usage_still_to_report(tenant: Tenant, now: datetime | None = None) -> bool:
    """Calls in flight, or overage Stripe has not acknowledged yet (and still would): the
    usage subscription must live until they are billed on it."""
    now = now or timezone.now()
    return (Reservation.unscoped.filter(tenant=tenant,
                                        state=Reservation.State.RESERVED).exists()
            or pending_overage().filter(tenant=tenant,
                                        created_at__gte=now - METER_EVENT_MAX_AGE).exists())


def cancel_usage_subscription(tenant: Tenant, stripe_client: stripe.StripeClient | None = None
                              ) -> str | None:
    """Cancel the tenant's usage subscription once its last active or past-due store period
    has ended (cancelled or expired) and all its overage has reached Stripe: the
    cancellation invoices the metered usage not yet invoiced (`invoice_now`). The database
    is the outbox: the tenant's state says what is due, so the settlement schedule retries
    after an outage or a refusal, and offline mode does nothing. Idempotent: a subscription
    Stripe already cancelled (a retry after a lost answer) is simply forgotten. Returns the
    id of the subscription cancelled, or None when nothing was (or could be) done."""
    customer = StripeCustomer.unscoped.filter(tenant=tenant).exclude(
        usage_subscription_id="").first()
    if customer is None or keeps_usage_subscription(tenant) or usage_still_to_report(tenant):
        return None
    stripe_client = stripe_client or client()
    if stripe_client is None:
        return None
    subscription_id = customer.usage_subscription_id
    try:
        stripe_client.v1.subscriptions.cancel(
            subscription_id, params={"invoice_now": True, "prorate": False})
    except stripe.InvalidRequestError:
        if not _cancelled_at_stripe(stripe_client, subscription_id):
            raise
    forget_usage_subscription(subscription_id)
    logger.info("Usage subscription %s of tenant %s cancelled: no paid store left",
                subscription_id, tenant.pk)
    return subscription_id


def _cancelled_at_stripe(stripe_client: stripe.StripeClient, subscription_id: str) -> bool:
    try:
        found = stripe_client.v1.subscriptions.retrieve(subscription_id)
    except stripe.InvalidRequestError as error:
        return error.http_status == 404
    return found.to_dict().get("status") in ("canceled", "incomplete_expired")


def forget_usage_subscription(subscription_id: str) -> int | None:
    """The usage subscription is gone (we cancelled it, or Stripe deleted it): clear it and
    bump the generation, so a later one is created under a new idempotency key. Returns the
    tenant id, or None if no tenant had it (any more)."""
    if not subscription_id:
        return None
    with transaction.atomic():
        customer = StripeCustomer.unscoped.select_for_update().filter(
            usage_subscription_id=subscription_id).first()
        if customer is None:
            return None
        StripeCustomer.unscoped.filter(pk=customer.pk).update(
            usage_subscription_id="",
            usage_subscription_generation=F("usage_subscription_generation") + 1,
            updated_at=timezone.now())
    return customer.tenant_id


def cancel_unneeded_usage_subscriptions() -> int:
    """The catch-up: usage subscriptions of tenants with no active or past-due store period
    left. Stops at the first outage; returns how many were cancelled."""
    stripe_client = client()
    if stripe_client is None:
        return 0
    keeping = StoreSubscription.unscoped.filter(
        status__in=KEEPS_USAGE_SUBSCRIPTION).values("tenant_id")
    candidates = StripeCustomer.unscoped.exclude(usage_subscription_id="").exclude(
        tenant_id__in=keeping).select_related("tenant").order_by("pk")
    return _catch_up(candidates,
                     lambda customer: cancel_usage_subscription(customer.tenant, stripe_client),
                     lambda customer: f"cancelling the usage subscription of tenant "
                                      f"{customer.tenant_id}")


def cancel_usage_after_commit(tenant_id: int) -> None:
    """Called when a store period ends: once committed, cancel the tenant's usage
    subscription if that was its last paid one (and nothing is left to report); otherwise,
    or on failure, the settlement schedule does it later."""
    if not is_online():
        return

    def cancel() -> None:
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is None:
            return
        try:
            cancel_usage_subscription(tenant)
        except stripe.StripeError as error:
            logger.warning("Usage subscription of tenant %s not cancelled yet: %s",
                           tenant_id, error)

    transaction.on_commit(cancel)


# Overage meter events (the outbox) ---------------------------------------------------------

def meter_identifier(event: UsageEvent) -> str:
    """Stable for the life of the ledger row: derived from its unique item key (not the
    primary key, which a restore could reuse). At most 100 characters, as Stripe requires."""
    return "usage-" + hashlib.sha256(event.item_key.encode()).hexdigest()[:40]


def fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


@dataclass
class ReportResult:
    sent: int = 0
    refused: list[int] = field(default_factory=list)  # ledger ids Stripe rejected (4xx)
    outage: str = ""
    offline: bool = False

    def as_dict(self) -> dict:
        return {"sent": self.sent, "refused": self.refused, "outage": self.outage,
                "offline": self.offline}


def pending_overage():
    """The outbox: overage ledger rows Stripe has not acknowledged yet."""
    return UsageEvent.unscoped.filter(kind=OVERAGE, reported_to_stripe_at__isnull=True)


def report_overage(*, closed_days_only: bool = True, batch_size: int = 100,
                   now: datetime | None = None) -> ReportResult:
    """Send pending overage to the Stripe meter. With `closed_days_only` only days that have
    ended in the tenant's time zone (the daily settlement of yesterday, plus anything older
    still pending). Safe to run at any time and concurrently: rows are claimed with SKIP
    LOCKED, marked only after Stripe accepted them and only if still unmarked, and a resend
    carries the same identifier, which Stripe deduplicates."""
    result = ReportResult()
    stripe_client = client()
    if stripe_client is None:
        result.offline = True
        return result
    now = now or timezone.now()
    tenant_ids = pending_overage().values("tenant_id").distinct()
    for tenant in Tenant.objects.filter(pk__in=tenant_ids).order_by("pk"):
        try:
            customer_id = ensure_customer(tenant, stripe_client)
        except OUTAGE_ERRORS as error:
            result.outage = str(error)
            return result
        candidates = pending_overage().filter(tenant=tenant)
        if closed_days_only:
            candidates = candidates.filter(day__lt=local_day(tenant, now))
        if not _report_tenant(stripe_client, customer_id, candidates, batch_size, result):
            return result
    return result


def _report_tenant(stripe_client, customer_id: str, candidates, batch_size: int,
                   result: ReportResult) -> bool:
    """Send one tenant's pending events batch by batch; False when Stripe is down."""
    while True:
        with transaction.atomic():
            batch = list(candidates.exclude(pk__in=result.refused)
                         .select_for_update(skip_locked=True).order_by("created_at", "pk")
                         [:batch_size])
            if not batch:
                return True
            for event in batch:
                identifier = meter_identifier(event)
                try:
                    ack = stripe_client.v1.billing.meter_events.create(
                        params={
                            "event_name": settings.STRIPE_METER_EVENT_NAME,
                            "identifier": identifier,
                            "timestamp": int(event.created_at.timestamp()),
                            "payload": {"stripe_customer_id": customer_id,
                                        "value": str(fen(event.unit_price))},
                        },
                        options={"idempotency_key": identifier})
                except OUTAGE_ERRORS as error:
                    # What was accepted so far is marked when this batch commits.
                    logger.warning("Stripe unavailable, overage stays queued: %s", error)
                    result.outage = str(error)
                    return False
                except stripe.StripeError as error:
                    logger.error("Stripe refused meter event %s (usage event %s): %s",
                                 identifier, event.pk, error)
                    result.refused.append(event.pk)
                    continue
                result.sent += UsageEvent.unscoped.filter(
                    pk=event.pk, reported_to_stripe_at__isnull=True,
                ).update(reported_to_stripe_at=timezone.now(),
                         stripe_meter_event_id=ack.to_dict().get("identifier") or "")


def settle_overage_to_stripe() -> dict:
    """The django-q2 schedule: licence and usage subscriptions still to create, then the
    overage of every closed local day still pending, then the usage subscriptions of tenants
    with no paid store left. Idempotent; a no-op in offline mode."""
    licences = push_pending_licences()
    usage_subscriptions = push_pending_usage_subscriptions()
    reported = report_overage().as_dict()
    # After the report: a tenant's last overage reaches Stripe before its subscription ends.
    return {"licences": licences, "usage_subscriptions": usage_subscriptions, **reported,
            "usage_subscriptions_cancelled": cancel_unneeded_usage_subscriptions()}


# Reconciliation ----------------------------------------------------------------------------

@dataclass
class Reconciliation:
    """Our ledger's overage for one tenant and period against what Stripe acknowledged."""

    tenant: Tenant
    first_day: date
    last_day: date
    ledger_calls: int
    ledger_amount: Decimal
    acknowledged_calls: int
    acknowledged_amount: Decimal
    unreported: list[UsageEvent]
    mismatched: list[UsageEvent]  # acknowledged under an identifier that is not theirs

    @property
    def differences(self) -> list[UsageEvent]:
        return [*self.unreported, *self.mismatched]

    @property
    def balanced(self) -> bool:
        return not self.differences and self.ledger_calls == self.acknowledged_calls


def reconcile(tenant: Tenant, first_day: date, last_day: date) -> Reconciliation:
    events = UsageEvent.unscoped.filter(tenant=tenant, kind=OVERAGE, day__gte=first_day,
                                        day__lte=last_day)
    acknowledged = Q(reported_to_stripe_at__isnull=False) & ~Q(stripe_meter_event_id="")
    totals = events.aggregate(
        calls=Count("pk"), amount=Sum("unit_price"),
        ack_calls=Count("pk", filter=acknowledged),
        ack_amount=Sum("unit_price", filter=acknowledged))
    unreported = list(events.filter(~acknowledged).order_by("day", "created_at", "pk"))
    mismatched = [event for event in events.filter(acknowledged).order_by("day", "pk")
                  if event.stripe_meter_event_id != meter_identifier(event)]
    zero = Decimal("0.00")
    return Reconciliation(
        tenant=tenant, first_day=first_day, last_day=last_day,
        ledger_calls=totals["calls"], ledger_amount=totals["amount"] or zero,
        acknowledged_calls=totals["ack_calls"] - len(mismatched),
        acknowledged_amount=(totals["ack_amount"] or zero)
        - sum((event.unit_price for event in mismatched), zero),
        unreported=unreported, mismatched=mismatched)
