"""Everything we send to Stripe: the tenant's customer, the yearly licence per store, the
tenant's usage subscription on the metered overage price, and the overage as Billing Meter
events. See docs/architecture.md, "Stripe".

Offline billing mode: with no STRIPE_SECRET_KEY nothing here calls Stripe; every function
returns without sending and without marking anything, so the ledger keeps the overage queued
until a key is configured.

The outbox is the ledger itself: an overage `UsageEvent` with no `reported_to_stripe_at` is
pending (a partial index keeps them cheap to find). `report_overage` sends each store's closed
local day as one meter event (value: the day's fen; identifier `store-<id>-<yyyymmdd>`), late
usage as a correction (a further meter event within 23 hours, an invoice item after), and marks
rows only after Stripe accepted the report that carries them (`StripeDayReport`). A Stripe
outage stops the run and leaves the rest pending for the next run. `reconcile_days` checks each
day against the meter's event summaries.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from billing.models import (
    Reservation,
    StoreSubscription,
    StripeCustomer,
    StripeDayReport,
    UsageEvent,
)
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


# Overage meter events: one per store and closed local day ----------------------------------

# Stripe de-duplicates a meter event's identifier (and keeps idempotency keys) for at least
# 24 hours and takes a cancel adjustment only within 24 hours of receipt. We stay well inside:
# a day may get correction meter events while its first report is younger than this, and an
# unconfirmed send older than this is looked up at Stripe before anything is sent again.
RESEND_WINDOW = timedelta(hours=23)
# Stripe refuses meter events more than 5 minutes ahead; we never send one ahead of now.
DayKind = StripeDayReport.Kind


def meter_identifier(event: UsageEvent) -> str:
    """The identifier of the day report that carries this ledger row: `store-<id>-<yyyymmdd>`
    (corrections add `-<sequence>`). At most 100 characters, as Stripe requires."""
    return day_identifier(event.store_id, event.day)


def day_identifier(store_id: int, day: date, sequence: int = 0) -> str:
    base = f"store-{store_id}-{day:%Y%m%d}"
    return base if sequence == 0 else f"{base}-{sequence}"


def per_call_identifier(event: UsageEvent) -> str:
    """The identifier the per-call reporting (before per-day reports) gave a row: a hash of
    its unique item key. Rows reported that way keep it."""
    return "usage-" + hashlib.sha256(event.item_key.encode()).hexdigest()[:40]


def carries(event: UsageEvent, identifier: str) -> bool:
    """Whether `identifier` (what the row was acknowledged under) belongs to this row."""
    base = meter_identifier(event)
    return (identifier == base or identifier.startswith(base + "-")
            or identifier == per_call_identifier(event))


def fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


@dataclass
class ReportResult:
    sent: int = 0  # ledger rows that reached Stripe
    reports: int = 0  # day reports Stripe accepted (meter events and invoice items)
    refused: list[str] = field(default_factory=list)  # identifiers Stripe rejected (4xx)
    outage: str = ""
    offline: bool = False

    def as_dict(self) -> dict:
        return {"sent": self.sent, "reports": self.reports, "refused": self.refused,
                "outage": self.outage, "offline": self.offline}


def pending_overage():
    """The outbox: overage ledger rows Stripe has not acknowledged yet."""
    return UsageEvent.unscoped.filter(kind=OVERAGE, reported_to_stripe_at__isnull=True)


def unsent_reports():
    return StripeDayReport.unscoped.filter(sent_at__isnull=True)


def report_overage(*, closed_days_only: bool = True, now: datetime | None = None
                   ) -> ReportResult:
    """Send pending overage to Stripe, one report per store and local day. With
    `closed_days_only` only days that have ended in the tenant's time zone.

    Two steps, each safe to repeat and to run concurrently: `claim_days` writes a day report
    (identifier, value, timestamp) and ties the day's pending rows to it; `send_reports`
    sends every unsent report and marks it and its rows only after Stripe accepted it. A
    crash or lost answer resends the same identifier (Stripe de-duplicates it); an outage
    stops the run and leaves the rest for the next one."""
    result = ReportResult()
    stripe_client = client()
    if stripe_client is None:
        result.offline = True
        return result
    now = now or timezone.now()
    tenant_ids = set(pending_overage().values_list("tenant_id", flat=True).distinct())
    tenant_ids |= set(unsent_reports().values_list("tenant_id", flat=True).distinct())
    for tenant in Tenant.objects.filter(pk__in=tenant_ids).order_by("pk"):
        try:
            customer_id = ensure_customer(tenant, stripe_client)
        except OUTAGE_ERRORS as error:
            result.outage = str(error)
            return result
        last_day = local_day(tenant, now) - timedelta(days=1) if closed_days_only else None
        try:
            claim_days(tenant, now=now, last_day=last_day,
                       found_at_stripe=lambda day, t=tenant, c=customer_id:
                       _unknown_at_stripe_fen(stripe_client, t, c, day))
        except OUTAGE_ERRORS as error:
            result.outage = str(error)
            return result
        if not send_reports(stripe_client, tenant, customer_id, result, now=now):
            return result
    return result


def claim_days(tenant: Tenant, *, now: datetime, last_day: date | None = None,
               found_at_stripe=None) -> int:
    """Write a day report for every store and day (up to `last_day`) with pending rows not
    yet tied to one, and tie them to it. A day not reported before gets its meter event
    (sequence 0); late rows on a reported day get a correction: a meter event with the next
    sequence while the day's first report is younger than RESEND_WINDOW, an invoice item
    (debit) after that. A day too old for Stripe's meter (35 days) goes on an invoice item
    too. Returns how many reports were written."""
    untied = pending_overage().filter(tenant=tenant, stripe_meter_event_id="")
    if last_day is not None:
        untied = untied.filter(day__lte=last_day)
    written = 0
    for store_id, day in (untied.values_list("store_id", "day").distinct()
                          .order_by("day", "store_id")):
        try:
            written += _claim_day(tenant, untied, store_id, day, now, found_at_stripe)
        except IntegrityError:
            # A concurrent run wrote this day's next report first; its rows wait for the
            # next run (nothing was tied here: the transaction rolled back).
            logger.info("Day %s of store %s claimed concurrently", day, store_id)
    return written


def _claim_day(tenant: Tenant, untied, store_id: int, day: date, now: datetime,
               found_at_stripe) -> int:
    """One store and day: see claim_days. Returns 1 when a report was written."""
    with transaction.atomic():
        rows = list(untied.filter(store_id=store_id, day=day)
                    .select_for_update(skip_locked=True).order_by("pk"))
        if not rows:
            return 0
        earlier = StripeDayReport.unscoped.select_for_update().filter(
            store_id=store_id, day=day).order_by("sequence")
        earlier = list(earlier)
        sequence = earlier[-1].sequence + 1 if earlier else 0
        day_end = day_starts_at(tenant, day + timedelta(days=1))
        timestamp = min(day_end - timedelta(seconds=1), now)
        too_old = timestamp < now - METER_EVENT_MAX_AGE + timedelta(hours=1)
        first_sent = earlier[0].sent_at if earlier else None
        late = bool(earlier) and (
            (first_sent or earlier[0].created_at) < now - RESEND_WINDOW
            or any(r.kind == DayKind.INVOICE_ITEM for r in earlier))
        value = sum(fen(row.unit_price) for row in rows)
        if found_at_stripe and any(r.kind == DayKind.PER_CALL for r in earlier):
            # A day begun per call: a per-call event whose answer was lost reached Stripe
            # while its row stayed pending. What the meter holds beyond the confirmed
            # reports is recorded as per-call usage already there, not sent again.
            found = min(value, found_at_stripe(day))
            if found > 0:
                StripeDayReport.unscoped.create(
                    tenant=tenant, store_id=store_id, day=day, sequence=sequence,
                    kind=DayKind.PER_CALL, value_fen=found, sent_at=now,
                    identifier=day_identifier(store_id, day, sequence) + "-per-call")
                sequence += 1
                value -= found
        identifier = day_identifier(store_id, day, sequence)
        StripeDayReport.unscoped.create(
            tenant=tenant, store_id=store_id, day=day, sequence=sequence,
            kind=DayKind.INVOICE_ITEM if late or too_old else DayKind.METER_EVENT,
            identifier=identifier, value_fen=value, timestamp=timestamp,
            sent_at=now if value == 0 else None)
        UsageEvent.unscoped.filter(pk__in=[row.pk for row in rows]).update(
            stripe_meter_event_id=identifier,
            **({"reported_to_stripe_at": now} if value == 0 else {}))
        return 1


def send_reports(stripe_client, tenant: Tenant, customer_id: str, result: ReportResult, *,
                 now: datetime) -> bool:
    """Send the tenant's unsent day reports; False when Stripe is down."""
    for report_id in (unsent_reports().filter(tenant=tenant).order_by("day", "store_id",
                                                                      "sequence")
                      .values_list("pk", flat=True)):
        StripeDayReport.unscoped.filter(pk=report_id, attempted_at__isnull=True).update(
            attempted_at=timezone.now())  # committed before the call, see the model
        with transaction.atomic():
            report = unsent_reports().select_for_update(skip_locked=True).filter(
                pk=report_id).first()
            if report is None:
                continue  # another run has it, or it is sent
            try:
                object_id = _send(stripe_client, tenant, customer_id, report, now)
            except OUTAGE_ERRORS as error:
                logger.warning("Stripe unavailable, overage stays queued: %s", error)
                result.outage = str(error)
                return False
            except stripe.StripeError as error:
                logger.error("Stripe refused day report %s: %s", report.identifier, error)
                result.refused.append(report.identifier)
                continue
            if object_id is None:
                continue  # not decidable yet (see _send)
            accepted = timezone.now()
            StripeDayReport.unscoped.filter(pk=report.pk).update(
                sent_at=accepted, stripe_object_id=object_id, kind=report.kind)
            result.reports += 1
            result.sent += UsageEvent.unscoped.filter(
                stripe_meter_event_id=report.identifier, reported_to_stripe_at__isnull=True,
            ).update(reported_to_stripe_at=accepted)
    return True


def _send(stripe_client, tenant: Tenant, customer_id: str, report: StripeDayReport,
          now: datetime) -> str | None:
    """Send one report; the Stripe object's id (the meter event's identifier, the invoice
    item's id) once Stripe has it, None when that cannot be decided yet.

    A report first attempted longer ago than RESEND_WINDOW may have reached Stripe already
    (an answer lost, then an outage of a day): Stripe's de-duplication may have expired,
    so it is looked up instead of resent. A meter event is looked for in the meter's
    summary of the day; if Stripe does not have it, it goes as an invoice item."""
    stale = report.attempted_at is not None and report.attempted_at < now - RESEND_WINDOW
    if report.kind == DayKind.METER_EVENT and stale:
        found = _meter_event_arrived(stripe_client, tenant, customer_id, report)
        if found is None:
            return None
        if found:
            return report.identifier
        report.kind = DayKind.INVOICE_ITEM
    if (report.kind == DayKind.METER_EVENT
            and report.timestamp < now - METER_EVENT_MAX_AGE + timedelta(hours=1)):
        report.kind = DayKind.INVOICE_ITEM  # queued too long: the meter would refuse it
    if report.kind == DayKind.INVOICE_ITEM:
        if stale:
            existing = _find_invoice_item(stripe_client, customer_id, report.identifier)
            if existing:
                return existing
        return _send_invoice_item(stripe_client, tenant, customer_id, report)
    ack = stripe_client.v1.billing.meter_events.create(
        params={"event_name": settings.STRIPE_METER_EVENT_NAME,
                "identifier": report.identifier,
                "timestamp": int(report.timestamp.timestamp()),
                "payload": {"stripe_customer_id": customer_id,
                            "value": str(report.value_fen)}},
        options={"idempotency_key": report.identifier})
    return ack.to_dict().get("identifier") or report.identifier


def _send_invoice_item(stripe_client, tenant: Tenant, customer_id: str,
                       report: StripeDayReport) -> str:
    params: dict = {
        "customer": customer_id, "amount": report.value_fen, "currency": "cny",
        "description": (f"Overage {'correction' if report.value_fen >= 0 else 'credit'} "
                        f"{report.day:%Y-%m-%d} store {report.store_id}"),
        "metadata": {"identifier": report.identifier, "tenant_id": str(tenant.pk),
                     "store_id": str(report.store_id), "day": report.day.isoformat()}}
    usage = StripeCustomer.unscoped.filter(tenant=tenant).values_list(
        "usage_subscription_id", flat=True).first()
    if usage:
        params["subscription"] = usage
    item = stripe_client.v1.invoice_items.create(
        params=params, options={"idempotency_key": report.identifier})
    return item.id


def _find_invoice_item(stripe_client, customer_id: str, identifier: str) -> str | None:
    for item in stripe_client.v1.invoice_items.list(
            params={"customer": customer_id, "limit": 100}).auto_paging_iter():
        if (item.to_dict().get("metadata") or {}).get("identifier") == identifier:
            return item.id
    return None


def _meter_event_arrived(stripe_client, tenant: Tenant, customer_id: str,
                         report: StripeDayReport) -> bool | None:
    """Whether the meter's summary of the tenant's day holds this report's value on top of
    the reports already confirmed. None without STRIPE_METER_ID (left for an operator)."""
    if not settings.STRIPE_METER_ID:
        logger.error("Day report %s is unconfirmed for over %s and STRIPE_METER_ID is not set",
                     report.identifier, RESEND_WINDOW)
        return None
    held = (meter_summary_fen(stripe_client, tenant, customer_id, report.day)
            - _confirmed_meter_fen(tenant, report.day))
    others = unsent_reports().filter(tenant=tenant, day=report.day, kind=DayKind.METER_EVENT,
                                     attempted_at__isnull=False).exclude(pk=report.pk).aggregate(
        total=Sum("value_fen"))["total"] or 0
    if held <= 0:
        return False
    if held == report.value_fen + others or (not others and held >= report.value_fen):
        return True
    # Part of the day's unconfirmed reports is there: which one the summary cannot say.
    logger.error("Day report %s: Stripe's meter holds %s fen of %s unconfirmed; left for an "
                 "operator", report.identifier, held, report.value_fen + others)
    return None


def _unknown_at_stripe_fen(stripe_client, tenant: Tenant, customer_id: str, day: date) -> int:
    """What the meter holds for the tenant's day beyond the reports we know reached it (0
    without STRIPE_METER_ID)."""
    if not settings.STRIPE_METER_ID:
        return 0
    return max(0, meter_summary_fen(stripe_client, tenant, customer_id, day)
               - _confirmed_meter_fen(tenant, day))


def _confirmed_meter_fen(tenant: Tenant, day: date) -> int:
    return StripeDayReport.unscoped.filter(
        tenant=tenant, day=day, sent_at__isnull=False,
        kind__in=(DayKind.METER_EVENT, DayKind.PER_CALL)).aggregate(
        total=Sum("value_fen"))["total"] or 0


def meter_summary_fen(stripe_client, tenant: Tenant, customer_id: str, day: date) -> int:
    """The meter's aggregated value (fen) for the customer over the tenant's local day, from
    Stripe's meter event summaries (one summary over the day: local midnights are not UTC
    day boundaries, so no grouping window)."""
    start = day_starts_at(tenant, day)
    end = day_starts_at(tenant, day + timedelta(days=1))
    summaries = stripe_client.v1.billing.meters.event_summaries.list(
        settings.STRIPE_METER_ID,
        params={"customer": customer_id, "start_time": int(start.timestamp()),
                "end_time": int(end.timestamp())})
    total = sum((Decimal(str(s.aggregated_value)) for s in summaries.auto_paging_iter()),
                Decimal(0))
    return int(total)


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
                  if not carries(event, event.stripe_meter_event_id)]
    zero = Decimal("0.00")
    return Reconciliation(
        tenant=tenant, first_day=first_day, last_day=last_day,
        ledger_calls=totals["calls"], ledger_amount=totals["amount"] or zero,
        acknowledged_calls=totals["ack_calls"] - len(mismatched),
        acknowledged_amount=(totals["ack_amount"] or zero)
        - sum((event.unit_price for event in mismatched), zero),
        unreported=unreported, mismatched=mismatched)


# Reconciling each reported day against Stripe's meter ---------------------------------------

@dataclass
class DayCheck:
    """One local day of a tenant, in fen: the ledger's overage, what we sent (meter events,
    invoice items), and what Stripe's meter summary holds for the day."""

    day: date
    ledger_fen: int
    meter_sent_fen: int
    invoiced_fen: int
    stripe_meter_fen: int

    @property
    def meter_agrees(self) -> bool:
        """Stripe's meter holds exactly the meter events we had accepted."""
        return self.stripe_meter_fen == self.meter_sent_fen

    @property
    def billed_fen(self) -> int:
        """What Stripe bills for the day: its meter's sum plus our invoice items."""
        return self.stripe_meter_fen + self.invoiced_fen

    @property
    def balanced(self) -> bool:
        return self.billed_fen == self.ledger_fen


def reconcile_days(tenant: Tenant, first_day: date, last_day: date,
                   stripe_client: stripe.StripeClient | None = None) -> list[DayCheck]:
    """Each day of the period with overage or reports, checked against the meter's event
    summary of that day. Empty in offline mode or without STRIPE_METER_ID."""
    stripe_client = stripe_client or client()
    if stripe_client is None or not settings.STRIPE_METER_ID:
        return []
    customer_id = ensure_customer(tenant, stripe_client)
    ledger = dict(UsageEvent.unscoped.filter(
        tenant=tenant, kind=OVERAGE, day__gte=first_day, day__lte=last_day)
        .values_list("day").annotate(total=Sum("unit_price")).order_by())
    sent = StripeDayReport.unscoped.filter(tenant=tenant, day__gte=first_day,
                                           day__lte=last_day, sent_at__isnull=False)
    meter = dict(sent.exclude(kind=DayKind.INVOICE_ITEM).values_list("day")
                 .annotate(total=Sum("value_fen")).order_by())
    invoiced = dict(sent.filter(kind=DayKind.INVOICE_ITEM).values_list("day")
                    .annotate(total=Sum("value_fen")).order_by())
    return [DayCheck(day=day, ledger_fen=fen(ledger.get(day) or Decimal(0)),
                     meter_sent_fen=meter.get(day, 0), invoiced_fen=invoiced.get(day, 0),
                     stripe_meter_fen=meter_summary_fen(stripe_client, tenant, customer_id,
                                                        day))
            for day in sorted({*ledger, *meter, *invoiced})]


def credit_meter_excess(tenant: Tenant, check: DayCheck, *, now: datetime | None = None
                        ) -> StripeDayReport | None:
    """When Stripe bills more for a day than the ledger holds (say a meter event it could no
    longer de-duplicate), write a credit invoice item for the excess (sent by the next
    report run). Not while a report of the day is still unsent (it may be that credit), and
    only for a day whose summary is settled (closed over RESEND_WINDOW ago)."""
    excess = check.billed_fen - check.ledger_fen
    now = now or timezone.now()
    if (excess <= 0 or day_starts_at(tenant, check.day + timedelta(days=1)) > now - RESEND_WINDOW
            or unsent_reports().filter(tenant=tenant, day=check.day).exists()):
        return None
    with transaction.atomic():
        last = (StripeDayReport.unscoped.select_for_update().filter(tenant=tenant, day=check.day)
                .order_by("-sequence").first())
        if last is None:
            return None
        sequence = StripeDayReport.unscoped.filter(store_id=last.store_id, day=check.day
                                                   ).order_by("-sequence").first().sequence + 1
        return StripeDayReport.unscoped.create(
            tenant=tenant, store_id=last.store_id, day=check.day, sequence=sequence,
            kind=DayKind.INVOICE_ITEM, value_fen=-excess,
            identifier=day_identifier(last.store_id, check.day, sequence))


def reconcile_reported_days(days_back: int = 35) -> dict:
    """The daily schedule: every tenant's reported days of the last `days_back` days against
    Stripe's meter summaries; an excess at Stripe gets a credit. Logs the days that differ."""
    stripe_client = client()
    if stripe_client is None or not settings.STRIPE_METER_ID:
        return {"checked": 0, "differing": 0, "credits": 0}
    checked = differing = credits = 0
    tenant_ids = StripeDayReport.unscoped.values("tenant_id").distinct()
    for tenant in Tenant.objects.filter(pk__in=tenant_ids).order_by("pk"):
        today = local_day(tenant)
        try:
            checks = reconcile_days(tenant, today - timedelta(days=days_back),
                                    today - timedelta(days=1), stripe_client)
        except stripe.StripeError as error:
            logger.warning("Stripe meter summaries of tenant %s not read: %s", tenant.pk, error)
            continue
        for check in checks:
            checked += 1
            if not check.balanced:
                differing += 1
                logger.warning("Tenant %s day %s differs from Stripe: %s", tenant.pk,
                               check.day, check)
                if credit_meter_excess(tenant, check):
                    credits += 1
    return {"checked": checked, "differing": differing, "credits": credits}
