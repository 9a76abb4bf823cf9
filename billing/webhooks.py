"""Stripe's webhook endpoint: public, but nothing is believed without a valid signature.

Every request must carry a `Stripe-Signature` that is an HMAC-SHA256 of "timestamp.payload"
under STRIPE_WEBHOOK_SECRET, no older than STRIPE_WEBHOOK_TOLERANCE_SECONDS (replays of a
captured request are stale). Each event id is processed once: the id is stored in the same
transaction as the changes it causes, so a replay (or Stripe's own redelivery) is a no-op 200,
and a failure rolls both back so that Stripe's redelivery retries it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import serializers

from audit.models import AuditEvent
from audit.services import record
from billing import stripe_sync
from billing.models import StoreSubscription, StripeCustomer, StripeEvent, StripeInvoice
from portal import json_input
from portal.api import json_error

logger = logging.getLogger(__name__)
Status = StoreSubscription.Status

# Stripe subscription status -> ours. Missing ones ("incomplete", "trialing", "paused") leave
# our status alone: a future period is "trialing" at Stripe until it starts.
SUBSCRIPTION_STATUS = {
    "active": Status.ACTIVE,
    "past_due": Status.PAST_DUE,
    "unpaid": Status.PAST_DUE,
    "canceled": Status.CANCELLED,
    "incomplete_expired": Status.CANCELLED,
}
# Our statuses a Stripe event may no longer change.
FINAL = (Status.CANCELLED, Status.EXPIRED)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        return json_error(request, 400, "webhook_not_configured",
                          _("Stripe webhooks are not configured on this platform."))
    if request.content_type != "application/json":
        return json_error(request, 400, "invalid_payload", _("The payload is not valid JSON."))
    payload = request.body.decode("utf-8", errors="replace")
    try:
        stripe.WebhookSignature.verify_header(
            payload, request.headers.get("Stripe-Signature", ""), secret,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError:
        return json_error(request, 400, "invalid_signature",
                          _("The Stripe signature is missing, invalid or too old."))
    try:
        event = parse_event(payload)
    except InvalidEvent as error:
        # Signed but malformed: 400, not 500 (which Stripe would retry for days).
        return json_error(request, 400, "invalid_payload",
                          _("The payload is not a Stripe event we can read."), error.details)

    created = _moment(event.get("created"))
    with transaction.atomic():
        try:
            with transaction.atomic():
                processed = StripeEvent.objects.create(event_id=event["id"], type=event["type"],
                                                       created=created)
        except IntegrityError:
            return JsonResponse({"received": True, "duplicate": True})
        obj = event["data"]["object"]
        handler = HANDLERS.get(event["type"], (None, None))[1]
        tenant_id = handler(obj, event["type"], created, event["id"]) if handler else None
        if tenant_id is not None:
            StripeEvent.objects.filter(pk=processed.pk).update(tenant_id=tenant_id)
    return JsonResponse({"received": True})


# Invoices ----------------------------------------------------------------------------------

def _handle_invoice(invoice: dict, event_type: str, created: datetime | None,
                    event_id: str) -> int | None:
    customer = StripeCustomer.unscoped.filter(
        stripe_customer_id=invoice.get("customer") or "").first()
    if customer is None or not invoice.get("id"):
        logger.info("Stripe %s for an unknown customer %s ignored", event_type,
                    invoice.get("customer"))
        return None
    row, _created = StripeInvoice.unscoped.select_for_update().get_or_create(
        stripe_invoice_id=invoice["id"], defaults={"tenant_id": customer.tenant_id})
    if row.tenant_id != customer.tenant_id:
        logger.error("Stripe invoice %s changed customer; ignored", invoice["id"])
        return None
    newer = row.stripe_updated_at is None or created is None or created >= row.stripe_updated_at
    if newer:
        status = invoice.get("status")
        if status in StripeInvoice.Status.values:
            row.status = status
        row.stripe_subscription_id = _invoice_subscription(invoice) or row.stripe_subscription_id
        row.currency = (invoice.get("currency") or row.currency).lower()
        for name in ("total", "amount_due", "amount_paid"):
            if invoice.get(name) is not None:
                setattr(row, name, from_minor_units(invoice[name]))
        row.period_start = _moment(invoice.get("period_start")) or row.period_start
        row.period_end = _moment(invoice.get("period_end")) or row.period_end
        row.hosted_invoice_url = (stripe_page_url(invoice.get("hosted_invoice_url"))
                                  or row.hosted_invoice_url)
        row.stripe_updated_at = created or row.stripe_updated_at
    if event_type == "invoice.payment_failed":
        row.payment_failed = True
        StripeCustomer.unscoped.filter(pk=customer.pk).update(payment_failed_at=timezone.now())
    elif event_type == "invoice.paid":
        row.payment_failed = False
        row.status = StripeInvoice.Status.PAID
    row.save()
    if event_type == "invoice.paid" and not StripeInvoice.unscoped.filter(
            tenant_id=customer.tenant_id, payment_failed=True,
            status=StripeInvoice.Status.OPEN).exists():
        StripeCustomer.unscoped.filter(pk=customer.pk).update(payment_failed_at=None)
    if event_type in INVOICE_ACTIONS:
        record(INVOICE_ACTIONS[event_type], tenant=customer.tenant, actor=None,
               target=row.stripe_invoice_id,
               details={"source": "stripe", "stripe_event_id": event_id,
                        "stripe_event": event_type, "invoice": row.stripe_invoice_id,
                        "stripe_subscription": row.stripe_subscription_id,
                        "amount_due": str(row.amount_due), "amount_paid": str(row.amount_paid),
                        "currency": row.currency})
    return customer.tenant_id


# What a payment event writes to the tenant's audit trail.
INVOICE_ACTIONS = {
    "invoice.payment_failed": AuditEvent.Action.INVOICE_PAYMENT_FAILED,
    "invoice.paid": AuditEvent.Action.INVOICE_PAID,
}


def _invoice_subscription(invoice: dict) -> str:
    """Older API versions put the subscription on the invoice, newer ones under `parent`
    (both validated by InvoiceSerializer)."""
    return invoice.get("subscription") or invoice.get("parent_subscription") or ""


# Subscriptions -----------------------------------------------------------------------------

def _handle_subscription(data: dict, event_type: str, created: datetime | None,
                         event_id: str) -> int | None:
    cancelled = is_cancellation(data, event_type, created)
    ours = list(StoreSubscription.unscoped.select_for_update()
                .filter(stripe_subscription_id=data.get("id") or "-").select_related("tenant"))
    if not ours and cancelled:
        usage = stripe_sync.forget_usage_subscription(data.get("id") or "")
        if usage is not None:
            logger.warning("Usage subscription %s of tenant %s ended at Stripe (%s)",
                           data.get("id"), usage, event_type)
            return usage
    if not ours:
        logger.info("Stripe %s for an unknown subscription %s ignored", event_type,
                    data.get("id"))
        return None
    target = Status.CANCELLED if cancelled else SUBSCRIPTION_STATUS.get(data.get("status") or "")
    for subscription in ours:
        if target is None or subscription.status in FINAL or subscription.status == target:
            continue
        if subscription.status == Status.TRIAL and target == Status.ACTIVE:
            continue
        before = subscription.status
        subscription.status = target
        fields = ["status", "updated_at"]
        if target == Status.CANCELLED:
            subscription.cancelled_at = timezone.now()
            fields.append("cancelled_at")
        subscription.save(update_fields=fields)
        action = AuditEvent.Action.SUBSCRIPTION_CANCELLED if target == Status.CANCELLED \
            else AuditEvent.Action.SUBSCRIPTION_STATUS_CHANGED
        record(action, tenant=subscription.tenant, actor=None, target=str(subscription.store),
               details={"subscription_id": subscription.pk, "before": before, "after": target,
                        "source": "stripe", "stripe_event_id": event_id,
                        "stripe_event": event_type,
                        "stripe_subscription": subscription.stripe_subscription_id})
        logger.info("Subscription %s %s -> %s by Stripe %s %s", subscription.pk, before,
                    target, event_type, event_id)
        if target == Status.CANCELLED:
            stripe_sync.cancel_usage_after_commit(subscription.tenant_id)
    return ours[0].tenant_id


def is_cancellation(data: dict, event_type: str, created: datetime | None) -> bool:
    """Whether the event says the subscription has ended. Besides the deletion, Stripe may
    say so in an update: status "canceled" (or "incomplete_expired"), an `ended_at`, or a
    scheduled end (`cancel_at_period_end` with the period's end, or `cancel_at`) that has
    been reached by the time of the event. A scheduled end still ahead is not one."""
    if event_type == "customer.subscription.deleted" or data.get("ended_at"):
        return True
    if data.get("status") in ("canceled", "incomplete_expired"):
        return True
    moment = created or timezone.now()
    ends = _moment(data.get("cancel_at"))
    if ends is None and data.get("cancel_at_period_end"):
        ends = _moment(_period_end(data))
    return ends is not None and ends <= moment


def _period_end(data: dict):
    """Older API versions put the period on the subscription, newer ones on its items."""
    if data.get("current_period_end"):
        return data["current_period_end"]
    items = (data.get("items") or {}).get("data") or []
    ends = [item.get("current_period_end") for item in items if item.get("current_period_end")]
    return max(ends) if ends else None


# The shape of a signed event: what the handlers read, with types and bounds (ids fit our
# columns, amounts our Decimal(12, 2) in CNY, timestamps 1970-2100). Unknown keys are ignored.

ID_LENGTH = 100
MAX_MINOR_UNITS = 10**12 - 1
MAX_TIMESTAMP = 4_102_444_800  # 2100-01-01


def _id(**kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=ID_LENGTH, allow_blank=True, allow_null=True,
                                 required=False, **kwargs)


def _timestamp() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0, max_value=MAX_TIMESTAMP, allow_null=True,
                                    required=False)


def _amount() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=-MAX_MINOR_UNITS, max_value=MAX_MINOR_UNITS,
                                    allow_null=True, required=False)


class ReferenceField(serializers.Field):
    """An id, or an expanded object with an id."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            data = data.get("id")
        return _id().run_validation(data) or ""


class InvoiceSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=ID_LENGTH)
    customer = ReferenceField(required=False, allow_null=True)
    status = _id()
    subscription = ReferenceField(required=False, allow_null=True)
    parent = serializers.DictField(required=False, allow_null=True)
    currency = serializers.CharField(max_length=3, allow_null=True, required=False)
    total, amount_due, amount_paid = _amount(), _amount(), _amount()
    period_start, period_end = _timestamp(), _timestamp()
    hosted_invoice_url = serializers.CharField(max_length=500, allow_blank=True,
                                               allow_null=True, required=False)

    def validate(self, data):
        details = ((data.get("parent") or {}).get("subscription_details") or {})
        if not isinstance(details, dict):
            raise serializers.ValidationError({"parent": "subscription_details is no object"})
        data["parent_subscription"] = ReferenceField(allow_null=True).run_validation(
            details.get("subscription"))
        return data


class SubscriptionItemSerializer(serializers.Serializer):
    current_period_end = _timestamp()


class SubscriptionItemsSerializer(serializers.Serializer):
    data = SubscriptionItemSerializer(many=True, required=False)


class SubscriptionSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=ID_LENGTH)
    status = _id()
    ended_at, cancel_at, current_period_end = _timestamp(), _timestamp(), _timestamp()
    cancel_at_period_end = serializers.BooleanField(required=False, allow_null=True)
    items = SubscriptionItemsSerializer(required=False, allow_null=True)


class EventDataSerializer(serializers.Serializer):
    object = serializers.DictField()


class EventSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=ID_LENGTH)
    type = serializers.CharField(max_length=ID_LENGTH)
    created = _timestamp()
    data = EventDataSerializer()


class InvalidEvent(ValueError):
    def __init__(self, details: dict) -> None:
        super().__init__("invalid Stripe event")
        self.details = details


def parse_event(payload: str) -> dict:
    """The signed payload as a validated event; its data.object validated by the event
    type's serializer (HANDLERS) when we handle that type."""
    try:
        raw = json_input.loads(payload)
    except json_input.InvalidJson as error:
        raise InvalidEvent({"payload": [str(error)]}) from None
    envelope = EventSerializer(data=raw)
    if not envelope.is_valid():
        raise InvalidEvent(envelope.errors)
    event = envelope.validated_data
    shape = HANDLERS.get(event["type"], (None, None))[0]
    if shape is not None:
        obj = shape(data=event["data"]["object"])
        if not obj.is_valid():
            raise InvalidEvent({"data": {"object": obj.errors}})
        event["data"]["object"] = obj.validated_data
    return event


def stripe_page_url(url: str | None) -> str:
    """`url` if it is an https address on Stripe's hosts (a hosted invoice page), else "":
    a signed event's URL is still shown as a link to sellers and finance."""
    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and (host == "stripe.com" or host.endswith(".stripe.com")):
        return url
    return ""


HANDLERS = {
    "invoice.created": (InvoiceSerializer, _handle_invoice),
    "invoice.finalized": (InvoiceSerializer, _handle_invoice),
    "invoice.paid": (InvoiceSerializer, _handle_invoice),
    "invoice.payment_failed": (InvoiceSerializer, _handle_invoice),
    "customer.subscription.updated": (SubscriptionSerializer, _handle_subscription),
    "customer.subscription.deleted": (SubscriptionSerializer, _handle_subscription),
}


# Helpers -----------------------------------------------------------------------------------

def from_minor_units(amount: int | str) -> Decimal:
    """Stripe's integer minor units (fen for CNY) as exact CNY."""
    return (Decimal(int(amount)) / 100).quantize(Decimal("0.01"))


def _moment(value) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)
