"""The Stripe webhook: real HMAC-SHA256 signatures, replays, and the state each event changes."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client

from audit.models import AuditEvent
from billing import stripe_sync
from billing.models import StoreSubscription, StripeCustomer, StripeEvent, StripeInvoice
from tests.billing.conftest import WEBHOOK_SECRET

URL = "/billing/stripe/webhook/"
_ids = itertools.count(1)
Status = StoreSubscription.Status


def sign(payload: str, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def event(type_: str, obj: dict, *, event_id: str | None = None, created: int | None = None
          ) -> str:
    return json.dumps({"id": event_id or f"evt_{next(_ids)}", "object": "event", "type": type_,
                       "api_version": "2025-04-30.basil", "created": created or int(time.time()),
                       "livemode": False, "data": {"object": obj}})


def post(payload: str, signature: str | None = "sign") -> object:
    headers = {}
    if signature == "sign":
        headers["HTTP_STRIPE_SIGNATURE"] = sign(payload)
    elif signature is not None:
        headers["HTTP_STRIPE_SIGNATURE"] = signature
    return Client().post(URL, data=payload, content_type="application/json", **headers)


@pytest.fixture
def customer(stripe_online, tenant_a) -> StripeCustomer:
    stripe_sync.ensure_customer(tenant_a)
    return StripeCustomer.unscoped.get(tenant=tenant_a)


def invoice(customer: StripeCustomer, *, invoice_id: str = "in_1", status: str = "open",
            total: int = 288000, amount_paid: int = 0, subscription: str = "sub_9") -> dict:
    return {"id": invoice_id, "object": "invoice", "customer": customer.stripe_customer_id,
            "status": status, "currency": "cny", "total": total, "amount_due": total,
            "amount_paid": amount_paid, "period_start": 1767196800, "period_end": 1769875200,
            "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/test_1",
            "parent": {"type": "subscription_details",
                       "subscription_details": {"subscription": subscription}}}


# Signatures --------------------------------------------------------------------------------

def test_valid_signature_is_accepted(customer):
    response = post(event("invoice.created", invoice(customer, status="draft")))
    assert response.status_code == 200
    assert response.json() == {"received": True}
    assert StripeEvent.objects.count() == 1


@pytest.mark.parametrize("signature", [
    None,  # missing
    "t=1,v1=deadbeef",  # garbage
    "forged",  # signed with another secret (filled in below)
])
def test_missing_or_forged_signature_is_rejected(customer, signature):
    payload = event("invoice.paid", invoice(customer, status="paid", amount_paid=288000))
    if signature == "forged":
        signature = sign(payload, secret="whsec_attacker")
    response = post(payload, signature)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert set(response.json()) == {"code", "message", "details"}
    assert not StripeEvent.objects.exists()
    assert not StripeInvoice.unscoped.exists()


def test_tampered_payload_is_rejected(customer):
    payload = event("invoice.paid", invoice(customer, status="paid", amount_paid=288000))
    signature = sign(payload)
    response = post(payload.replace("288000", "1"), signature)
    assert response.status_code == 400
    assert not StripeInvoice.unscoped.exists()


def test_stale_signature_is_rejected(customer):
    payload = event("invoice.paid", invoice(customer, status="paid"))
    response = post(payload, sign(payload, at=int(time.time()) - 301))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert not StripeEvent.objects.exists()


def test_without_a_webhook_secret_nothing_is_believed(stripe_offline, db):
    payload = event("invoice.paid", {"id": "in_1"})
    response = post(payload, sign(payload, secret=""))
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_get_is_not_allowed(db):
    assert Client().get(URL).status_code == 405


# Idempotency -------------------------------------------------------------------------------

def test_replayed_event_is_a_no_op(customer):
    failed = event("invoice.payment_failed", invoice(customer), event_id="evt_fail")
    paid = event("invoice.paid", invoice(customer, status="paid", amount_paid=288000),
                 event_id="evt_paid", created=int(time.time()) + 1)
    assert post(failed).status_code == 200
    assert post(paid).status_code == 200

    replay = post(failed)  # a fresh, valid signature on an already-processed event

    assert replay.status_code == 200
    assert replay.json() == {"received": True, "duplicate": True}
    assert StripeEvent.objects.filter(event_id="evt_fail").count() == 1
    row = StripeInvoice.unscoped.get(stripe_invoice_id="in_1")
    assert row.status == StripeInvoice.Status.PAID and not row.payment_failed
    customer.refresh_from_db()
    assert not customer.in_arrears


# Invoices ----------------------------------------------------------------------------------

def test_invoice_lifecycle_and_money_exact_to_the_fen(customer):
    now = int(time.time())
    post(event("invoice.created", invoice(customer, status="draft", total=288079), created=now))
    row = StripeInvoice.unscoped.get(stripe_invoice_id="in_1")
    assert row.tenant_id == customer.tenant_id
    assert row.status == StripeInvoice.Status.DRAFT
    assert row.total == Decimal("2880.79")
    assert row.amount_due == Decimal("2880.79")
    assert row.stripe_subscription_id == "sub_9"
    assert row.period_start == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
    assert row.hosted_invoice_url == "https://invoice.stripe.com/i/acct_1/test_1"

    post(event("invoice.finalized", invoice(customer, status="open", total=288079),
               created=now + 1))
    row.refresh_from_db()
    assert row.status == StripeInvoice.Status.OPEN

    post(event("invoice.payment_failed", invoice(customer, status="open", total=288079),
               created=now + 2))
    row.refresh_from_db()
    customer.refresh_from_db()
    assert row.payment_failed and customer.in_arrears

    post(event("invoice.paid", invoice(customer, status="paid", total=288079,
                                       amount_paid=288079), created=now + 3))
    row.refresh_from_db()
    customer.refresh_from_db()
    assert row.status == StripeInvoice.Status.PAID
    assert row.amount_paid == Decimal("2880.79")
    assert not row.payment_failed and not customer.in_arrears

    # An older event delivered late does not turn a paid invoice back into a draft.
    post(event("invoice.created", invoice(customer, status="draft", total=1), created=now - 5))
    row.refresh_from_db()
    assert row.status == StripeInvoice.Status.PAID and row.total == Decimal("2880.79")


@pytest.mark.parametrize(("minor", "cny"), [(1, "0.01"), (80, "0.80"), (12345, "123.45"),
                                             (999999999, "9999999.99")])
def test_minor_units_convert_exactly(minor, cny):
    from billing.webhooks import from_minor_units

    assert from_minor_units(minor) == Decimal(cny)


def test_invoice_of_an_unknown_customer_is_acknowledged_and_ignored(stripe_online, db):
    payload = event("invoice.paid", {"id": "in_x", "customer": "cus_unknown", "status": "paid"})
    assert post(payload).status_code == 200
    assert not StripeInvoice.unscoped.exists()
    assert StripeEvent.objects.get().tenant_id is None


# Subscriptions -----------------------------------------------------------------------------

@pytest.fixture
def linked(stripe_online, subscription_a) -> StoreSubscription:
    stripe_sync.push_licence_subscription(subscription_a)
    subscription_a.refresh_from_db()
    assert subscription_a.stripe_subscription_id
    return subscription_a


def subscription_event(type_: str, subscription: StoreSubscription, status: str) -> str:
    return event(type_, {"id": subscription.stripe_subscription_id, "object": "subscription",
                         "status": status})


def test_subscription_past_due_then_active_again(linked):
    assert post(subscription_event("customer.subscription.updated", linked,
                                   "past_due")).status_code == 200
    linked.refresh_from_db()
    assert linked.status == Status.PAST_DUE

    post(subscription_event("customer.subscription.updated", linked, "active"))
    linked.refresh_from_db()
    assert linked.status == Status.ACTIVE
    assert StripeEvent.objects.filter(tenant_id=linked.tenant_id).count() == 2


def test_subscription_deleted_cancels_and_stays_cancelled(linked):
    post(subscription_event("customer.subscription.deleted", linked, "canceled"))
    linked.refresh_from_db()
    assert linked.status == Status.CANCELLED and linked.cancelled_at is not None
    assert AuditEvent.unscoped.filter(tenant_id=linked.tenant_id,
                                      action=AuditEvent.Action.SUBSCRIPTION_CANCELLED).exists()

    # A late "active" update cannot bring a cancelled period back.
    post(subscription_event("customer.subscription.updated", linked, "active"))
    linked.refresh_from_db()
    assert linked.status == Status.CANCELLED


def audit_trail(tenant_id, action) -> list[AuditEvent]:
    return list(AuditEvent.unscoped.filter(tenant_id=tenant_id, action=action).order_by("id"))


# Cancellations that arrive as updates --------------------------------------------------------

def test_update_with_status_canceled_cancels_like_the_deletion(linked):
    payload = subscription_event("customer.subscription.updated", linked, "canceled")
    assert post(payload).status_code == 200
    linked.refresh_from_db()
    assert linked.status == Status.CANCELLED and linked.cancelled_at is not None
    [entry] = audit_trail(linked.tenant_id, AuditEvent.Action.SUBSCRIPTION_CANCELLED)
    assert entry.actor is None
    assert entry.details["stripe_event_id"] == json.loads(payload)["id"]
    assert entry.details["stripe_event"] == "customer.subscription.updated"


def test_scheduled_end_counts_only_once_reached(linked):
    now = int(time.time())

    def update(period_end: int, event_created: int) -> str:
        return event("customer.subscription.updated", {
            "id": linked.stripe_subscription_id, "object": "subscription", "status": "active",
            "cancel_at_period_end": True, "cancel_at": None,
            "items": {"object": "list", "data": [{"id": "si_1",
                                                  "current_period_end": period_end}]}},
            created=event_created)

    # Scheduled for the end of the period: nothing ends yet.
    assert post(update(now + 86400, now)).status_code == 200
    linked.refresh_from_db()
    assert linked.status == Status.ACTIVE
    assert audit_trail(linked.tenant_id, AuditEvent.Action.SUBSCRIPTION_CANCELLED) == []

    # The period's end has come (the event was created after it): cancelled.
    post(update(now - 60, now))
    linked.refresh_from_db()
    assert linked.status == Status.CANCELLED


def test_reached_cancel_at_in_an_update_cancels(linked):
    now = int(time.time())
    post(event("customer.subscription.updated",
               {"id": linked.stripe_subscription_id, "object": "subscription",
                "status": "active", "cancel_at": now - 1}, created=now))
    linked.refresh_from_db()
    assert linked.status == Status.CANCELLED


@pytest.fixture
def with_usage(settings, linked) -> str:
    settings.STRIPE_OVERAGE_PRICE_ID = "price_overage_fen"
    usage = stripe_sync.ensure_usage_subscription(linked.tenant)
    assert usage.startswith("sub_")
    return usage


def usage_of(tenant_id) -> StripeCustomer:
    return StripeCustomer.unscoped.get(tenant_id=tenant_id)


@pytest.mark.parametrize("fields", [{"status": "canceled"},
                                    {"status": "active", "ended_at": 1767225600}])
def test_usage_subscription_ended_by_an_update_is_forgotten(with_usage, linked, fields):
    post(event("customer.subscription.updated",
               {"id": with_usage, "object": "subscription", **fields}))
    customer = usage_of(linked.tenant_id)
    assert customer.usage_subscription_id == ""
    assert customer.usage_subscription_generation == 1
    linked.refresh_from_db()
    assert linked.status == Status.ACTIVE  # the store's licence is another subscription


def test_usage_subscription_update_that_does_not_end_it_changes_nothing(with_usage, linked):
    response = post(event("customer.subscription.updated",
                          {"id": with_usage, "object": "subscription", "status": "past_due"}))
    assert response.status_code == 200
    assert usage_of(linked.tenant_id).usage_subscription_id == with_usage


def test_cancelling_the_last_store_at_stripe_cancels_the_usage_subscription(
        with_usage, linked, stripe_online, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(subscription_event("customer.subscription.updated", linked, "canceled"))
    assert stripe_online.subscriptions[with_usage]["status"] == "canceled"
    assert usage_of(linked.tenant_id).usage_subscription_id == ""


# The audit trail of what Stripe changed ----------------------------------------------------

def test_status_changes_by_stripe_are_in_the_audit_trail(linked):
    past_due = subscription_event("customer.subscription.updated", linked, "past_due")
    active = subscription_event("customer.subscription.updated", linked, "active")
    post(past_due)
    post(active)
    post(active)  # a replay records nothing more

    trail = audit_trail(linked.tenant_id, AuditEvent.Action.SUBSCRIPTION_STATUS_CHANGED)
    assert [(e.details["before"], e.details["after"]) for e in trail] == [
        ("active", "past_due"), ("past_due", "active")]
    assert [e.details["stripe_event_id"] for e in trail] == [
        json.loads(past_due)["id"], json.loads(active)["id"]]
    for entry in trail:
        assert entry.actor is None and entry.details["source"] == "stripe"
        assert entry.details["subscription_id"] == linked.pk
        assert entry.target == str(linked.store)


def test_invoice_payments_are_in_the_audit_trail(customer):
    failed = event("invoice.payment_failed", invoice(customer, total=288079))
    paid = event("invoice.paid", invoice(customer, status="paid", total=288079,
                                         amount_paid=288079), created=int(time.time()) + 1)
    post(event("invoice.finalized", invoice(customer)))  # not a payment: not recorded
    post(failed)
    post(paid)
    post(paid)

    [failure] = audit_trail(customer.tenant_id, AuditEvent.Action.INVOICE_PAYMENT_FAILED)
    [payment] = audit_trail(customer.tenant_id, AuditEvent.Action.INVOICE_PAID)
    assert failure.details["stripe_event_id"] == json.loads(failed)["id"]
    assert payment.details["stripe_event_id"] == json.loads(paid)["id"]
    assert failure.actor is None and payment.actor is None
    assert failure.target == payment.target == "in_1"
    assert payment.details["amount_paid"] == "2880.79"
    assert payment.details["stripe_subscription"] == "sub_9"
    assert AuditEvent.unscoped.filter(tenant_id=customer.tenant_id).count() == 2


def test_subscription_event_touches_only_the_linked_period(linked, tenant_b, pack):
    from billing import services
    from tests.billing.conftest import make_store
    from tests.conftest import add_member

    other = services.subscribe_store(make_store(tenant_b, add_member(tenant_b)), pack, by=None)
    post(subscription_event("customer.subscription.updated", linked, "unpaid"))
    other.refresh_from_db()
    linked.refresh_from_db()
    assert linked.status == Status.PAST_DUE
    assert other.status == Status.ACTIVE


# Signed but malformed or hostile events ------------------------------------------------------

@pytest.mark.parametrize("payload", [
    "[]",
    '"an event"',
    json.dumps({"id": "evt_bad", "type": "invoice.paid", "created": "abc",
                "data": {"object": {"id": "in_1"}}}),
    json.dumps({"id": "evt_bad", "type": "invoice.paid", "created": 1, "data": {"object": []}}),
    json.dumps({"id": "evt_bad", "type": "invoice.paid", "created": 1, "data": []}),
    json.dumps({"id": "evt_bad", "type": "invoice.paid", "created": 10**20,
                "data": {"object": {"id": "in_1"}}}),
    json.dumps({"id": "evt_bad", "type": "invoice.paid", "created": -5,
                "data": {"object": {"id": "in_1"}}}),
    json.dumps({"id": "evt_" + "x" * 300, "type": "invoice.paid", "created": 1,
                "data": {"object": {"id": "in_1"}}}),
    json.dumps({"id": "evt_bad", "type": "invoice.paid", "created": 1,
                "data": {"object": {"id": "in_" + "x" * 300, "customer": "cus_1"}}}),
    json.dumps({"id": "evt_bad", "type": "invoice.paid", "created": 1,
                "data": {"object": {"id": "in_1", "customer": "cus_1", "total": 10**30}}}),
    json.dumps({"id": "evt_bad", "type": "invoice.paid", "created": 1,
                "data": {"object": {"id": "in_1", "customer": "cus_1",
                                    "period_end": 10**15}}}),
    json.dumps({"id": "evt_bad", "type": "customer.subscription.updated", "created": 1,
                "data": {"object": {"id": "sub_1", "cancel_at": "soon"}}}),
    json.dumps({"id": "evt_bad", "type": "customer.subscription.updated", "created": 1,
                "data": {"object": {"id": "sub_1", "items": {"data": "x"}}}}),
    json.dumps({"id": "evt_bad", "type": "invoice.paid", "created": 1,
                "data": {"object": {"id": "in_1", "customer": ["cus_1"]}}}),
    "[" * 50_000 + "]" * 50_000,
])
def test_a_signed_but_malformed_event_answers_400_and_changes_nothing(customer, payload):
    response = post(payload)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_payload"
    assert not StripeEvent.objects.exists()
    assert not StripeInvoice.unscoped.exists()


@pytest.mark.parametrize("url", [
    "javascript:alert(document.cookie)",
    "http://invoice.stripe.com/i/acct_1/test_1",
    "https://invoice.stripe.com.evil.example/i/1",
    "https://evil.example/?https://invoice.stripe.com/",
    "data:text/html,<script>alert(1)</script>",
])
def test_only_https_invoice_pages_on_stripe_hosts_are_kept(customer, url):
    payload = event("invoice.finalized", {"id": "in_url", "customer": customer.stripe_customer_id,
                                          "status": "open", "hosted_invoice_url": url})
    assert post(payload).status_code == 200
    assert StripeInvoice.unscoped.get(stripe_invoice_id="in_url").hosted_invoice_url == ""


def test_a_stripe_invoice_page_is_kept(customer):
    url = "https://invoice.stripe.com/i/acct_1/live_abc"
    payload = event("invoice.finalized", {"id": "in_ok", "customer": customer.stripe_customer_id,
                                          "status": "open", "hosted_invoice_url": url})
    assert post(payload).status_code == 200
    assert StripeInvoice.unscoped.get(stripe_invoice_id="in_ok").hosted_invoice_url == url
