"""Stripe sync against the local stand-in over real HTTP: customers, licence subscriptions,
the tenant's usage subscription, the overage meter outbox (outage, retry, no duplicates),
offline mode and reconciliation."""

from __future__ import annotations

import importlib
import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
import stripe
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from django_q.models import Schedule

from billing import quota, services, stripe_sync
from billing.models import StoreSubscription, StripeCustomer, StripeDayReport, UsageEvent
from billing.quota import local_day
from tests.billing import stripe_server
from tests.billing.conftest import make_store
from tests.billing.test_stripe_webhook import event as webhook_event
from tests.billing.test_stripe_webhook import post as post_webhook
from tests.conftest import create_tenant

_item = itertools.count(1)
METER_PATH = "/v1/billing/meter_events"
OVERAGE_PRICE = "price_overage_fen"


def ledger_event(subscription: StoreSubscription, *, days_ago: int = 1,
                 kind: str = UsageEvent.Kind.OVERAGE,
                 unit_price: str = "0.80") -> UsageEvent:
    """A settled call in the ledger, as billing.quota.settle_call writes it."""
    return UsageEvent.unscoped.create(
        tenant_id=subscription.tenant_id, store_id=subscription.store_id,
        subscription=subscription, item_key=f"job-1/item-{next(_item)}",
        day=local_day(subscription.tenant) - timedelta(days=days_ago), kind=kind,
        unit_price=Decimal(unit_price) if kind == UsageEvent.Kind.OVERAGE else Decimal("0"),
        created_at=timezone.now() - timedelta(days=days_ago))


def reported(subscription) -> list[UsageEvent]:
    return list(UsageEvent.unscoped.filter(subscription=subscription,
                                           reported_to_stripe_at__isnull=False))


# Customers ---------------------------------------------------------------------------------

def test_one_customer_per_tenant(stripe_online, tenant_a, tenant_b):
    first = stripe_sync.ensure_customer(tenant_a)
    again = stripe_sync.ensure_customer(tenant_a)
    other = stripe_sync.ensure_customer(tenant_b)

    assert first == again and first.startswith("cus_")
    assert other != first
    assert len(stripe_online.calls("/v1/customers")) == 2
    assert StripeCustomer.unscoped.get(tenant=tenant_a).stripe_customer_id == first
    sent = stripe_online.customers[first]
    assert sent["metadata"]["tenant_id"] == str(tenant_a.pk)
    # The library carried our idempotency key: a retried create returns the same customer.
    assert stripe_online.calls("/v1/customers")[0].headers["idempotency-key"] == \
        f"customer-tenant-{tenant_a.pk}"


# Licence subscriptions ---------------------------------------------------------------------

def test_licence_subscription_created_when_a_period_activates(
        stripe_online, store_a, pack, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        subscription = services.subscribe_store(store_a, pack, by=None)

    subscription.refresh_from_db()
    assert subscription.stripe_subscription_id.startswith("sub_")
    assert subscription.stripe_subscription_item_id.startswith("si_")
    sent = stripe_online.subscriptions[subscription.stripe_subscription_id]
    assert sent["items"]["data"][0]["price"]["id"] == "price_licence_yearly"
    assert sent["metadata"]["store_subscription_id"] == str(subscription.pk)
    assert sent["customer"] == StripeCustomer.unscoped.get(tenant=store_a.tenant).stripe_customer_id

    # Running it again changes nothing and sends nothing.
    assert stripe_sync.push_pending_licences() == 0
    assert stripe_sync.push_licence_subscription(subscription) == \
        subscription.stripe_subscription_id
    assert len(stripe_online.calls("/v1/subscriptions")) == 1


def test_trials_get_no_licence_and_outage_is_caught_up(
        stripe_online, tenant_a, owner_a, pack, django_capture_on_commit_callbacks):
    trial_store = make_store(tenant_a, owner_a)
    paid_store = make_store(tenant_a, owner_a)
    stripe_online.fail("500")
    with django_capture_on_commit_callbacks(execute=True):
        trial = services.subscribe_store(trial_store, pack, by=None,
                                         status=StoreSubscription.Status.TRIAL)
        paid = services.subscribe_store(paid_store, pack, by=None)  # Stripe is down: no error
    paid.refresh_from_db()
    assert paid.stripe_subscription_id == ""

    stripe_online.heal()
    assert stripe_sync.push_pending_licences() == 1
    paid.refresh_from_db()
    trial.refresh_from_db()
    assert paid.stripe_subscription_id.startswith("sub_")
    assert trial.stripe_subscription_id == ""
    assert len(stripe_online.subscriptions) == 1


# The usage subscription --------------------------------------------------------------------

@pytest.fixture
def stripe_metered(settings, stripe_online):
    settings.STRIPE_OVERAGE_PRICE_ID = OVERAGE_PRICE
    return stripe_online


def usage_subscriptions(stripe_api, customer_id: str | None = None) -> list[dict]:
    """What the stand-in holds on the overage price (optionally for one customer)."""
    return [s for s in stripe_api.subscriptions.values()
            if s["items"]["data"][0]["price"]["id"] == OVERAGE_PRICE
            and customer_id in (None, s["customer"])]


def usage_id(tenant) -> str:
    return StripeCustomer.unscoped.get(tenant=tenant).usage_subscription_id


def test_usage_subscription_created_once_per_tenant(
        stripe_metered, tenant_a, owner_a, tenant_b, owner_b, pack,
        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = services.subscribe_store(make_store(tenant_a, owner_a), pack, by=None)
    with django_capture_on_commit_callbacks(execute=True):
        services.subscribe_store(make_store(tenant_a, owner_a), pack, by=None)
        services.renew_subscription(first, by=None)
    with django_capture_on_commit_callbacks(execute=True):
        services.subscribe_store(make_store(tenant_b, owner_b), pack, by=None)

    customer_a = StripeCustomer.unscoped.get(tenant=tenant_a)
    assert customer_a.usage_subscription_id.startswith("sub_")
    [sent] = usage_subscriptions(stripe_metered, customer_a.stripe_customer_id)
    assert sent["id"] == customer_a.usage_subscription_id
    assert sent["metadata"] == {"tenant_id": str(tenant_a.pk), "purpose": "overage"}
    assert usage_id(tenant_b) not in ("", customer_a.usage_subscription_id)
    assert len(usage_subscriptions(stripe_metered)) == 2
    created = [r for r in stripe_metered.calls("/v1/subscriptions")
               if r.params.get("items[0][price]") == OVERAGE_PRICE]
    assert len(created) == 2
    assert created[0].headers["idempotency-key"] == f"usage-subscription-tenant-{tenant_a.pk}-0"
    assert "items[0][quantity]" not in created[0].params  # metered: no quantity

    # The hourly catch-up and a direct call change nothing and send nothing.
    assert stripe_sync.settle_overage_to_stripe()["usage_subscriptions"] == 0
    assert stripe_sync.ensure_usage_subscription(tenant_a) == customer_a.usage_subscription_id
    # 3 first periods + 1 renewal = 4 licences, and the 2 usage subscriptions.
    assert len(stripe_metered.calls("/v1/subscriptions")) == 6


def test_trials_only_tenant_gets_no_usage_subscription(
        stripe_metered, tenant_a, owner_a, pack, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.subscribe_store(make_store(tenant_a, owner_a), pack, by=None,
                                 status=StoreSubscription.Status.TRIAL)
    assert stripe_sync.ensure_usage_subscription(tenant_a) is None
    assert stripe_sync.settle_overage_to_stripe()["usage_subscriptions"] == 0
    assert usage_subscriptions(stripe_metered) == []
    assert not StripeCustomer.unscoped.filter(tenant=tenant_a).exclude(
        usage_subscription_id="").exists()

    # The first paid store brings it.
    with django_capture_on_commit_callbacks(execute=True):
        services.subscribe_store(make_store(tenant_a, owner_a), pack, by=None)
    assert [s["id"] for s in usage_subscriptions(stripe_metered)] == [usage_id(tenant_a)]


def test_usage_subscription_skipped_offline(stripe_offline, stripe_api, settings, store_a,
                                            pack, django_capture_on_commit_callbacks):
    settings.STRIPE_OVERAGE_PRICE_ID = OVERAGE_PRICE
    with django_capture_on_commit_callbacks(execute=True):
        services.subscribe_store(store_a, pack, by=None)

    assert stripe_sync.ensure_usage_subscription(store_a.tenant) is None
    assert stripe_sync.push_pending_usage_subscriptions() == 0
    assert stripe_api.requests == []
    assert not StripeCustomer.unscoped.filter(tenant=store_a.tenant).exists()


def test_usage_subscription_skipped_without_a_price(stripe_online, store_a, pack,
                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        subscription = services.subscribe_store(store_a, pack, by=None)

    subscription.refresh_from_db()
    assert subscription.stripe_subscription_id.startswith("sub_")  # the licence still goes
    assert stripe_sync.ensure_usage_subscription(store_a.tenant) is None
    assert stripe_sync.settle_overage_to_stripe()["usage_subscriptions"] == 0
    assert len(stripe_online.subscriptions) == 1
    assert usage_id(store_a.tenant) == ""


@pytest.mark.parametrize("failure", ["500", "lose_response"])
def test_stripe_down_then_the_catch_up_creates_it_once(
        stripe_metered, store_a, pack, django_capture_on_commit_callbacks, failure):
    # Customer and licence go through; the usage subscription fails (a lost response: Stripe
    # made it, we never heard).
    stripe_metered.fail(failure, after=2)
    with django_capture_on_commit_callbacks(execute=True):
        services.subscribe_store(store_a, pack, by=None)  # no error
    assert usage_id(store_a.tenant) == ""
    assert len(usage_subscriptions(stripe_metered)) == (1 if failure == "lose_response" else 0)

    stripe_metered.heal()
    assert stripe_sync.settle_overage_to_stripe()["usage_subscriptions"] == 1
    assert stripe_sync.settle_overage_to_stripe()["usage_subscriptions"] == 0
    [only] = usage_subscriptions(stripe_metered)
    assert usage_id(store_a.tenant) == only["id"]


def test_deletion_webhook_clears_it_and_the_catch_up_recreates_only_while_active(
        stripe_metered, tenant_a, owner_a, tenant_b, owner_b, pack,
        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        paid_a = services.subscribe_store(make_store(tenant_a, owner_a), pack, by=None)
        paid_b = services.subscribe_store(make_store(tenant_b, owner_b), pack, by=None)
    old_a, old_b = usage_id(tenant_a), usage_id(tenant_b)
    services.cancel_subscription(paid_b, by=None)  # tenant B has no active store any more

    for tenant, old in ((tenant_a, old_a), (tenant_b, old_b)):
        stripe_metered.subscriptions[old]["status"] = "canceled"
        customer = StripeCustomer.unscoped.get(tenant=tenant).stripe_customer_id
        response = post_webhook(webhook_event(
            "customer.subscription.deleted",
            {"id": old, "object": "subscription", "customer": customer, "status": "canceled"}))
        assert response.status_code == 200
        assert usage_id(tenant) == ""
    paid_a.refresh_from_db()
    assert paid_a.status == StoreSubscription.Status.ACTIVE  # the store licence is untouched

    assert stripe_sync.settle_overage_to_stripe()["usage_subscriptions"] == 1
    new_a = usage_id(tenant_a)
    assert new_a.startswith("sub_") and new_a != old_a
    assert stripe_metered.subscriptions[new_a]["status"] == "active"
    assert usage_id(tenant_b) == ""
    assert stripe_sync.settle_overage_to_stripe()["usage_subscriptions"] == 0
    keys = [r.headers["idempotency-key"] for r in stripe_metered.calls("/v1/subscriptions")
            if r.params.get("items[0][price]") == OVERAGE_PRICE]
    assert keys[-1] == f"usage-subscription-tenant-{tenant_a.pk}-1"


# Ending the usage subscription with the tenant's last paid store ---------------------------

def cancellations(stripe_api) -> list:
    return [r for r in stripe_api.requests
            if r.method == "DELETE" and r.path.startswith("/v1/subscriptions/")]


@pytest.fixture
def two_paid_stores(stripe_metered, tenant_a, owner_a, pack, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = services.subscribe_store(make_store(tenant_a, owner_a), pack, by=None)
        second = services.subscribe_store(make_store(tenant_a, owner_a), pack, by=None)
    assert usage_id(tenant_a).startswith("sub_")
    return first, second


def test_last_paid_store_cancelled_cancels_the_usage_subscription_once(
        two_paid_stores, stripe_metered, tenant_a, owner_a, pack,
        django_capture_on_commit_callbacks):
    first, second = two_paid_stores
    usage = usage_id(tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_subscription(first, by=None)
        # A trial does not keep it either: trials are free (see docs, "Stripe").
        services.subscribe_store(make_store(tenant_a, owner_a), pack, by=None,
                                 status=StoreSubscription.Status.TRIAL)
    assert cancellations(stripe_metered) == []  # the other store still pays
    assert stripe_metered.subscriptions[usage]["status"] == "active"

    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_subscription(second, by=None)

    [request] = cancellations(stripe_metered)
    assert request.path == f"/v1/subscriptions/{usage}"
    assert request.params["invoice_now"] == "true"  # the last metered usage is invoiced
    assert stripe_metered.subscriptions[usage]["status"] == "canceled"
    customer = StripeCustomer.unscoped.get(tenant=tenant_a)
    assert customer.usage_subscription_id == ""
    assert customer.usage_subscription_generation == 1
    # The licences are Stripe subscriptions of their own and were not touched here.
    assert [s["status"] for s in stripe_metered.subscriptions.values()].count("canceled") == 1

    # The schedule neither cancels again nor makes a new one; Stripe's deletion webhook for
    # it is acknowledged and changes nothing.
    result = stripe_sync.settle_overage_to_stripe()
    assert result["usage_subscriptions"] == 0 and result["usage_subscriptions_cancelled"] == 0
    assert post_webhook(webhook_event(
        "customer.subscription.deleted",
        {"id": usage, "object": "subscription", "status": "canceled"})).status_code == 200
    assert StripeCustomer.unscoped.get(tenant=tenant_a).usage_subscription_generation == 1
    assert len(cancellations(stripe_metered)) == 1

    # Paying again brings a new one, under the next idempotency key.
    with django_capture_on_commit_callbacks(execute=True):
        services.subscribe_store(make_store(tenant_a, owner_a), pack, by=None)
    assert usage_id(tenant_a) not in ("", usage)
    assert stripe_metered.calls("/v1/subscriptions")[-1].headers["idempotency-key"] == \
        f"usage-subscription-tenant-{tenant_a.pk}-1"


def test_expiry_of_the_last_paid_period_cancels_it(two_paid_stores, stripe_metered, tenant_a,
                                                   django_capture_on_commit_callbacks):
    first, second = two_paid_stores
    usage = usage_id(tenant_a)
    services.cancel_subscription(first, by=None)  # its after-commit is not run here
    after_the_end = timezone.now() + timedelta(days=400)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.expire_ended_subscriptions(now=after_the_end) == 1

    assert stripe_metered.subscriptions[usage]["status"] == "canceled"
    assert usage_id(tenant_a) == ""


def test_past_due_store_keeps_it(two_paid_stores, stripe_metered, tenant_a,
                                 django_capture_on_commit_callbacks):
    first, second = two_paid_stores
    StoreSubscription.unscoped.filter(pk=first.pk).update(
        status=StoreSubscription.Status.PAST_DUE)
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_subscription(second, by=None)
    assert stripe_sync.settle_overage_to_stripe()["usage_subscriptions_cancelled"] == 0
    assert cancellations(stripe_metered) == []
    assert usage_id(tenant_a).startswith("sub_")


def test_it_waits_until_the_last_overage_reached_stripe(two_paid_stores, stripe_metered,
                                                        tenant_a, clock,
                                                        django_capture_on_commit_callbacks):
    first, second = two_paid_stores
    yesterday = ledger_event(first)
    today = ledger_event(first, days_ago=0)
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_subscription(first, by=None)
        services.cancel_subscription(second, by=None)
    assert cancellations(stripe_metered) == []  # overage still to report

    # The hourly run sends yesterday's; today's waits for the day to close, and so does the
    # cancellation.
    result = stripe_sync.settle_overage_to_stripe()
    assert result["sent"] == 1 and result["usage_subscriptions_cancelled"] == 0
    assert usage_id(tenant_a).startswith("sub_")

    clock.set(timezone.now() + timedelta(days=1))
    result = stripe_sync.settle_overage_to_stripe()
    assert result["sent"] == 1 and result["usage_subscriptions_cancelled"] == 1
    assert len(cancellations(stripe_metered)) == 1
    assert usage_id(tenant_a) == ""
    assert {stripe_sync.meter_identifier(e) for e in (yesterday, today)} == \
        set(stripe_metered.meter_identifiers())


@pytest.mark.parametrize("failure", ["500", "lose_response"])
def test_stripe_down_at_the_cancellation_then_the_schedule_does_it_once(
        two_paid_stores, stripe_metered, tenant_a, django_capture_on_commit_callbacks,
        failure):
    first, second = two_paid_stores
    usage = usage_id(tenant_a)
    services.cancel_subscription(first, by=None)
    stripe_metered.fail(failure, times=1)
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_subscription(second, by=None)  # no error
    assert usage_id(tenant_a) == usage  # we never heard back: still ours
    lost = failure == "lose_response"
    assert stripe_metered.subscriptions[usage]["status"] == ("canceled" if lost else "active")

    assert stripe_sync.settle_overage_to_stripe()["usage_subscriptions_cancelled"] == 1
    assert usage_id(tenant_a) == ""
    assert stripe_metered.subscriptions[usage]["status"] == "canceled"
    assert stripe_sync.settle_overage_to_stripe()["usage_subscriptions_cancelled"] == 0
    assert len(cancellations(stripe_metered)) == 2


def test_offline_mode_keeps_it_until_stripe_is_back(two_paid_stores, stripe_metered, settings,
                                                    tenant_a, django_capture_on_commit_callbacks):
    first, second = two_paid_stores
    usage = usage_id(tenant_a)
    settings.STRIPE_SECRET_KEY = ""
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_subscription(first, by=None)
        services.cancel_subscription(second, by=None)
    assert stripe_sync.settle_overage_to_stripe()["usage_subscriptions_cancelled"] == 0
    assert cancellations(stripe_metered) == [] and usage_id(tenant_a) == usage

    settings.STRIPE_SECRET_KEY = "sk_test_local"
    assert stripe_sync.settle_overage_to_stripe()["usage_subscriptions_cancelled"] == 1
    assert stripe_metered.subscriptions[usage]["status"] == "canceled"


# Meter events: one per store and closed local day ------------------------------------------

@pytest.fixture
def metered_day(settings, stripe_online):
    """Online, with the meter's id for reading its event summaries."""
    settings.STRIPE_METER_ID = stripe_server.METER_ID
    return stripe_online


def many_events(subscription, calls: int, *, days_ago: int = 1, day=None,
                unit_price: str = "0.80") -> list[UsageEvent]:
    day = day or local_day(subscription.tenant) - timedelta(days=days_ago)
    at = quota.day_starts_at(subscription.tenant, day) + timedelta(hours=10)
    return UsageEvent.unscoped.bulk_create([UsageEvent(
        tenant_id=subscription.tenant_id, store_id=subscription.store_id,
        subscription=subscription, item_key=f"job-1/item-{next(_item)}", day=day,
        kind=UsageEvent.Kind.OVERAGE, unit_price=Decimal(unit_price),
        created_at=at + timedelta(seconds=n)) for n in range(calls)])


def customer_of(tenant) -> str:
    return StripeCustomer.unscoped.get(tenant=tenant).stripe_customer_id


def day_bounds(tenant, day) -> tuple[int, int]:
    return (int(quota.day_starts_at(tenant, day).timestamp()),
            int(quota.day_starts_at(tenant, day + timedelta(days=1)).timestamp()))


def test_a_day_of_600_overage_calls_is_one_meter_event_in_fen(metered_day, subscription_a):
    tenant = subscription_a.tenant
    calls = many_events(subscription_a, 600)
    ledger_event(subscription_a, kind=UsageEvent.Kind.INCLUDED)  # never sent
    ledger_event(subscription_a, days_ago=0)  # today is not over: not yet

    result = stripe_sync.report_overage()

    assert result.sent == 600 and result.reports == 1 and not result.outage
    assert len(metered_day.calls(METER_PATH)) == 1
    [event] = metered_day.meter_events
    day = calls[0].day
    assert event["identifier"] == f"store-{subscription_a.store_id}-{day:%Y%m%d}"
    assert event["payload"] == {"stripe_customer_id": customer_of(tenant), "value": "48000"}
    start, end = day_bounds(tenant, day)
    assert start <= event["timestamp"] < end  # inside the tenant's local day
    assert all(e.stripe_meter_event_id == event["identifier"] for e in reported(subscription_a))
    assert len(reported(subscription_a)) == 600

    # Another run sends nothing; reconciliation agrees with the ledger and with Stripe.
    assert stripe_sync.report_overage().reports == 0
    assert len(metered_day.calls(METER_PATH)) == 1
    assert stripe_sync.reconcile(tenant, day, day).balanced
    [check] = stripe_sync.reconcile_days(tenant, day, day)
    assert (check.ledger_fen, check.stripe_meter_fen, check.invoiced_fen) == (48000, 48000, 0)
    assert check.balanced


@pytest.mark.parametrize("failure", ["500", "timeout", "lose_response"])
def test_a_retry_never_double_reports(metered_day, subscription_a, failure):
    tenant = subscription_a.tenant
    events = many_events(subscription_a, 5)
    stripe_sync.ensure_customer(tenant)
    metered_day.fail(failure, times=1)

    first = stripe_sync.report_overage()

    assert first.outage and first.sent == 0 and reported(subscription_a) == []
    assert len(metered_day.meter_events) == (1 if failure == "lose_response" else 0)

    retry = stripe_sync.report_overage()
    assert retry.sent == 5 and not retry.outage
    sent = [r.params["identifier"] for r in metered_day.calls(METER_PATH)]
    assert len(sent) == 2 and len(set(sent)) == 1  # the same identifier twice
    assert metered_day.meter_total() == 400  # counted once
    assert stripe_sync.reconcile_days(tenant, events[0].day, events[0].day)[0].balanced


def test_an_answer_lost_for_over_24_hours_is_looked_up_not_resent(metered_day, subscription_a,
                                                                 clock):
    tenant = subscription_a.tenant
    events = many_events(subscription_a, 3)
    stripe_sync.ensure_customer(tenant)
    metered_day.fail("lose_response", times=1)
    assert stripe_sync.report_overage().outage

    # A day later Stripe no longer de-duplicates the identifier: resending would charge twice.
    clock.set(timezone.now() + timedelta(hours=25))
    assert stripe_sync.report_overage().sent == 3
    assert len(metered_day.calls(METER_PATH)) == 1  # found in the meter's summary
    assert metered_day.meter_total() == 240 and metered_day.invoice_items == []
    assert stripe_sync.reconcile_days(tenant, events[0].day, events[0].day)[0].balanced


def test_a_send_that_never_arrived_goes_as_an_invoice_item_after_24_hours(
        metered_day, subscription_a, clock):
    tenant = subscription_a.tenant
    events = many_events(subscription_a, 3)
    stripe_sync.ensure_customer(tenant)
    metered_day.fail("500", times=1)
    assert stripe_sync.report_overage().outage
    clock.set(timezone.now() + timedelta(hours=25))

    assert stripe_sync.report_overage().sent == 3
    assert metered_day.meter_events == []
    [item] = metered_day.invoice_items
    assert (item["amount"], item["currency"]) == (240, "cny")
    [check] = stripe_sync.reconcile_days(tenant, events[0].day, events[0].day)
    assert check.balanced and check.invoiced_fen == 240


def test_after_a_day_long_outage_only_the_attempted_report_is_looked_up(
        metered_day, subscription_a, tenant_a, owner_a, pack, clock):
    second = services.subscribe_store(make_store(tenant_a, owner_a, "Alpha Two"), pack, by=None)
    first_day = many_events(subscription_a, 2)[0].day
    many_events(second, 3)
    stripe_sync.ensure_customer(tenant_a)
    metered_day.fail("lose_response", times=1)  # the first arrives, its answer is lost
    assert stripe_sync.report_overage().outage  # and the second was never tried

    clock.set(timezone.now() + timedelta(hours=25))
    assert stripe_sync.report_overage().sent == 5
    assert metered_day.meter_total() == 400 and metered_day.invoice_items == []
    assert len(metered_day.calls(METER_PATH)) == 2  # the lost one was not sent again
    assert stripe_sync.reconcile_days(tenant_a, first_day, first_day)[0].balanced


def test_a_lost_invoice_item_answer_is_looked_up_after_24_hours(metered_day, subscription_a,
                                                               clock):
    many_events(subscription_a, 2, days_ago=40)  # too old for the meter: an invoice item
    stripe_sync.ensure_customer(subscription_a.tenant)
    metered_day.fail("lose_response", times=1)
    assert stripe_sync.report_overage().outage
    assert len(metered_day.invoice_items) == 1

    clock.set(timezone.now() + timedelta(hours=25))  # Stripe forgot the idempotency key
    assert stripe_sync.report_overage().sent == 2
    assert [i["amount"] for i in metered_day.invoice_items] == [160]  # found, not re-created
    assert len(metered_day.calls("/v1/invoiceitems")) == 2  # the create and the lookup


def test_late_usage_is_a_correction_event_within_24_hours_then_an_invoice_item(
        metered_day, subscription_a, stripe_metered, clock):
    tenant = subscription_a.tenant
    usage = stripe_sync.ensure_usage_subscription(tenant)
    [first] = many_events(subscription_a, 1)
    day = first.day
    base = f"store-{subscription_a.store_id}-{day:%Y%m%d}"
    assert stripe_sync.report_overage().reports == 1

    # Late usage on the reported day, two hours later: a correction meter event.
    clock.set(timezone.now() + timedelta(hours=2))
    many_events(subscription_a, 2, day=day)
    assert stripe_sync.report_overage().sent == 2
    assert metered_day.meter_identifiers() == [base, f"{base}-1"]
    assert metered_day.meter_events[1]["payload"]["value"] == "160"

    # More late usage after Stripe's 24 hours: a debit invoice item on the usage subscription.
    clock.set(timezone.now() + timedelta(hours=23))
    many_events(subscription_a, 1, day=day)
    result = stripe_sync.report_overage()
    assert result.sent == 1 and len(metered_day.meter_events) == 2
    [item] = metered_day.invoice_items
    assert item["amount"] == 80 and item["currency"] == "cny"
    assert item["subscription"] == usage and item["customer"] == customer_of(tenant)
    assert item["metadata"]["identifier"] == f"{base}-2"
    [check] = stripe_sync.reconcile_days(tenant, day, day)
    assert (check.ledger_fen, check.stripe_meter_fen, check.invoiced_fen) == (320, 240, 80)
    assert check.balanced and stripe_sync.reconcile(tenant, day, day).balanced


def test_a_day_past_stripes_35_days_goes_as_an_invoice_item(metered_day, subscription_a):
    many_events(subscription_a, 2, days_ago=40)
    assert stripe_sync.report_overage().sent == 2
    assert metered_day.meter_events == []
    assert [i["amount"] for i in metered_day.invoice_items] == [160]


def test_a_day_queued_past_35_days_goes_as_an_invoice_item(metered_day, subscription_a, clock):
    many_events(subscription_a, 2, days_ago=2)
    many_events(subscription_a, 1, days_ago=1)
    stripe_sync.ensure_customer(subscription_a.tenant)
    metered_day.fail("500", times=1)  # the first day's send fails, the second is never tried
    assert stripe_sync.report_overage().outage
    clock.set(timezone.now() + timedelta(days=36))

    assert stripe_sync.report_overage().sent == 3
    assert metered_day.meter_events == []
    assert sorted(i["amount"] for i in metered_day.invoice_items) == [80, 160]


def test_summaries_match_per_day_and_an_excess_at_stripe_is_credited(
        metered_day, subscription_a, tenant_a, owner_a, pack, clock):
    second = services.subscribe_store(make_store(tenant_a, owner_a, "Alpha Two"), pack, by=None)
    many_events(subscription_a, 3, days_ago=2)
    many_events(subscription_a, 2, days_ago=1, unit_price="1.25")
    many_events(second, 4, days_ago=1)
    assert stripe_sync.report_overage().reports == 3
    today = local_day(tenant_a)
    checks = stripe_sync.reconcile_days(tenant_a, today - timedelta(days=3), today)
    assert [(c.day, c.ledger_fen, c.stripe_meter_fen) for c in checks] == [
        (today - timedelta(days=2), 240, 240), (today - timedelta(days=1), 570, 570)]
    assert all(c.balanced for c in checks)

    # A day later someone resends yesterday's first event: Stripe's de-duplication is over.
    clock.set(timezone.now() + timedelta(hours=25))
    original = metered_day.meter_events[1]
    stripe_sync.client().v1.billing.meter_events.create(params={
        "event_name": original["event_name"], "identifier": original["identifier"],
        "timestamp": original["timestamp"], "payload": original["payload"]})
    assert metered_day.meter_total() == 240 + 570 + 250
    result = stripe_sync.reconcile_reported_days()
    assert result == {"checked": 2, "differing": 1, "credits": 1}
    assert stripe_sync.reconcile_reported_days()["credits"] == 0  # the credit is queued
    stripe_sync.report_overage()
    assert [i["amount"] for i in metered_day.invoice_items] == [-250]
    checks = stripe_sync.reconcile_days(tenant_a, today - timedelta(days=3), today)
    assert all(c.balanced for c in checks) and not checks[1].meter_agrees
    assert stripe_sync.reconcile_reported_days() == {"checked": 2, "differing": 0,
                                                     "credits": 0}


def test_stand_in_enforces_stripes_meter_rules(metered_day, tenant_a, clock):
    customer = stripe_sync.ensure_customer(tenant_a)
    api = stripe_sync.client().v1.billing
    now = int(timezone.now().timestamp())

    def send(identifier, timestamp, value="5"):
        return api.meter_events.create(params={
            "event_name": "ai_calls_overage", "identifier": identifier, "timestamp": timestamp,
            "payload": {"stripe_customer_id": customer, "value": value}})

    with pytest.raises(stripe.InvalidRequestError):
        send("old", now - 35 * 86400 - 60)
    with pytest.raises(stripe.InvalidRequestError):
        send("ahead", now + 301)
    send("a", now - 60)
    send("a", now - 60)  # de-duplicated within 24 hours
    start = now - now % 3600 - 3600
    summaries = api.meters.event_summaries.list(stripe_server.METER_ID, params={
        "customer": customer, "start_time": start, "end_time": start + 7200})
    assert [s.aggregated_value for s in summaries.data] == [5.0]
    hourly = api.meters.event_summaries.list(stripe_server.METER_ID, params={
        "customer": customer, "start_time": start, "end_time": start + 7200,
        "value_grouping_window": "hour"})
    assert sum(s.aggregated_value for s in hourly.data) == 5.0 and len(hourly.data) == 2
    for wrong in ({"start_time": start + 1, "end_time": start + 7200},
                  {"start_time": start, "end_time": start + 7200,
                   "value_grouping_window": "day"},
                  {"start_time": start}):
        with pytest.raises(stripe.InvalidRequestError):
            api.meters.event_summaries.list(stripe_server.METER_ID,
                                            params={"customer": customer, **wrong})
    clock.set(timezone.now() + timedelta(hours=25))
    send("a", now - 60)  # no longer de-duplicated
    assert metered_day.meter_total() == 10


# Moving per-call rows over -----------------------------------------------------------------

def test_cut_over_from_per_call_events_charges_nothing_twice(metered_day, subscription_a):
    """Rows the old code reported per call stay reported; one whose answer was lost (at
    Stripe, pending here) and the rest still pending are reported per day, minus what the
    meter already holds."""
    tenant = subscription_a.tenant
    customer = stripe_sync.ensure_customer(tenant)
    events = many_events(subscription_a, 6)
    api = stripe_sync.client().v1.billing.meter_events
    for event in events[:4]:  # the old per-call reporting
        api.create(params={
            "event_name": "ai_calls_overage",
            "identifier": stripe_sync.per_call_identifier(event),
            "timestamp": int(event.created_at.timestamp()),
            "payload": {"stripe_customer_id": customer, "value": "80"}})
    for event in events[:3]:  # the fourth one's answer was lost
        UsageEvent.unscoped.filter(pk=event.pk).update(
            reported_to_stripe_at=timezone.now(),
            stripe_meter_event_id=stripe_sync.per_call_identifier(event))
    older = many_events(subscription_a, 2, days_ago=3)  # a day fully reported per call
    for event in older:
        api.create(params={
            "event_name": "ai_calls_overage",
            "identifier": stripe_sync.per_call_identifier(event),
            "timestamp": int(event.created_at.timestamp()),
            "payload": {"stripe_customer_id": customer, "value": "80"}})
        UsageEvent.unscoped.filter(pk=event.pk).update(
            reported_to_stripe_at=timezone.now() - timedelta(days=2),
            stripe_meter_event_id=stripe_sync.per_call_identifier(event))

    cut_over = importlib.import_module(
        "billing.migrations.0011_per_call_overage_to_day_reports")
    migrated = MigrationLoader(connection).project_state(
        ("billing", "0011_per_call_overage_to_day_reports")).apps  # as the migration sees it
    cut_over.per_call_days_to_reports(migrated, None)
    cut_over.per_call_days_to_reports(migrated, None)  # again: nothing more
    assert StripeDayReport.unscoped.filter(kind=StripeDayReport.Kind.PER_CALL).count() == 2

    stripe_sync.report_overage()

    assert metered_day.meter_total() == 6 * 80 + 2 * 80  # exactly the ledger
    assert metered_day.invoice_items == []
    assert UsageEvent.unscoped.filter(reported_to_stripe_at__isnull=True).count() == 0
    for day in (events[0].day, older[0].day):
        [check] = stripe_sync.reconcile_days(tenant, day, day)
        assert check.balanced and check.meter_agrees
    assert stripe_sync.reconcile(tenant, older[0].day, events[0].day).balanced
    assert stripe_sync.report_overage().reports == 0


# Offline, schedules, the page's reconciliation ----------------------------------------------

def test_offline_mode_sends_nothing_and_everything_works(stripe_offline, stripe_api, store_a,
                                                         pack, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        subscription = services.subscribe_store(store_a, pack, by=None)
    ledger_event(subscription)

    assert stripe_sync.ensure_customer(store_a.tenant) is None
    assert stripe_sync.push_licence_subscription(subscription) is None
    result = stripe_sync.settle_overage_to_stripe()

    assert result == {"licences": 0, "usage_subscriptions": 0, "sent": 0, "reports": 0,
                      "refused": [], "outage": "", "offline": True,
                      "usage_subscriptions_cancelled": 0}
    assert stripe_sync.reconcile_reported_days()["checked"] == 0
    assert reported(subscription) == []
    assert stripe_api.requests == []
    subscription.refresh_from_db()
    assert subscription.stripe_subscription_id == ""
    assert subscription.status == StoreSubscription.Status.ACTIVE


def test_refused_report_is_left_pending(stripe_online, subscription_a):
    many_events(subscription_a, 2)
    stripe_sync.ensure_customer(subscription_a.tenant)
    stripe_online.customers.clear()  # a customer Stripe does not know: 400

    result = stripe_sync.report_overage()
    assert result.sent == 0 and len(result.refused) == 1 and not result.outage
    assert reported(subscription_a) == []


def test_schedules_exist(db):
    for func in ("billing.stripe_sync.settle_overage_to_stripe",
                 "billing.stripe_sync.reconcile_reported_days"):
        assert Schedule.objects.get(func=func).repeats == -1


def test_reconciliation_lists_the_events_that_differ(stripe_online, subscription_a):
    tenant = subscription_a.tenant
    events = [ledger_event(subscription_a, unit_price="0.80") for _ in range(3)]
    events.append(ledger_event(subscription_a, unit_price="0.75"))
    stripe_sync.ensure_customer(tenant)
    stripe_online.fail("500", times=1)
    stripe_sync.report_overage()
    day = events[0].day

    partial = stripe_sync.reconcile(tenant, day, day)

    assert partial.ledger_calls == 4 and partial.ledger_amount == Decimal("3.15")
    assert partial.acknowledged_calls == 0
    assert {e.pk for e in partial.unreported} == {e.pk for e in events}
    assert partial.mismatched == [] and not partial.balanced

    stripe_online.heal()
    stripe_sync.report_overage()
    full = stripe_sync.reconcile(tenant, day, day)
    assert full.balanced and full.acknowledged_amount == Decimal("3.15")
    assert stripe_online.meter_total() == 315

    # Another tenant's ledger is not part of it.
    other = create_tenant("Gamma")
    assert stripe_sync.reconcile(other, day, day).ledger_calls == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_send_each_day_once(settings, stripe_online):
    """Four workers run the settlement at once (real threads and connections): every store
    and day goes to Stripe exactly once."""
    from tests.billing.test_concurrency import run_in_threads
    from tests.conftest import add_member

    settings.STRIPE_METER_ID = stripe_server.METER_ID
    tenant = create_tenant("Concurrent Stripe")
    owner = add_member(tenant)
    pack = services.create_pack(code="standard", name="Standard",
                                terms=services.STANDARD_TERMS, by=None)
    subscriptions = [services.subscribe_store(make_store(tenant, owner), pack, by=None)
                     for _ in range(3)]
    for subscription in subscriptions:
        for days_ago in (1, 2):
            many_events(subscription, 4, days_ago=days_ago)
    stripe_sync.ensure_customer(tenant)

    results = run_in_threads(lambda n: stripe_sync.report_overage().reports, workers=4)

    assert sum(results) == 6
    identifiers = stripe_online.meter_identifiers()
    assert len(identifiers) == len(set(identifiers)) == 6
    assert stripe_online.meter_total() == 6 * 4 * 80
    assert UsageEvent.unscoped.filter(reported_to_stripe_at__isnull=True).count() == 0
    assert StripeDayReport.unscoped.count() == 6
