"""Stripe's webhook endpoint: public, but nothing is believed without a valid signature.

Every request must carry a `Stripe-Signature` that is an HMAC-SHA256 of "timestamp.payload"
under STRIPE_WEBHOOK_SECRET, no older than STRIPE_WEBHOOK_TOLERANCE_SECONDS (replays of a
captured request are stale). Each event id is processed once: the id is stored in the same
transaction as the changes it causes, so a replay (or Stripe's own redelivery) is a no-op 200,
and a failure rolls both back so that Stripe's redelivery retries it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from audit.models import AuditEvent
from audit.services import record
from billing import stripe_sync
from billing.models import StoreSubscription, StripeCustomer, StripeEvent, StripeInvoice
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
    payload = request.body.decode("utf-8", errors="replace")
    try:
        stripe.Webhook.construct_event(payload, request.headers.get("Stripe-Signature", ""),
                                       secret, tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS)
        event = json.loads(payload)
    except stripe.SignatureVerificationError:
        return json_error(request, 400, "invalid_signature",
                          _("The Stripe signature is missing, invalid or too old."))
    except ValueError:
        return json_error(request, 400, "invalid_payload", _("The payload is not valid JSON."))
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        return json_error(request, 400, "invalid_payload", _("The payload is not a Stripe event."))

    created = _moment(event.get("created"))
    with transaction.atomic():
        try:
            with transaction.atomic():
                processed = StripeEvent.objects.create(event_id=event["id"], type=event["type"],
                                                       created=created)
        except IntegrityError:
            return JsonResponse({"received": True, "duplicate": True})
        obj = (event.get("data") or {}).get("object") or {}
        handler = HANDLERS.get(event["type"])
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
        row.hosted_invoice_url = invoice.get("hosted_invoice_url") or row.hosted_invoice_url
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
    """Older API versions put the subscription on the invoice, newer ones under `parent`."""
    subscription = invoice.get("subscription")
    if isinstance(subscription, dict):
        subscription = subscription.get("id")
    if not subscription:
        details = (invoice.get("parent") or {}).get("subscription_details") or {}
        subscription = details.get("subscription")
    return subscription or ""


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


HANDLERS = {
    "invoice.created": _handle_invoice,
    "invoice.finalized": _handle_invoice,
    "invoice.paid": _handle_invoice,
    "invoice.payment_failed": _handle_invoice,
    "customer.subscription.updated": _handle_subscription,
    "customer.subscription.deleted": _handle_subscription,
}


# Helpers -----------------------------------------------------------------------------------

def from_minor_units(amount: int | str) -> Decimal:
    """Stripe's integer minor units (fen for CNY) as exact CNY."""
    return (Decimal(int(amount)) / 100).quantize(Decimal("0.01"))


def _moment(value) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)
