"""Subscription periods are validated (not over when created, never overlapping for one
store), a seller's owner starts the pack's trial once per store, and ISV staff see the new
stores waiting for a pack."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import translation

from billing import services
from billing.models import StoreSubscription
from tenants.roles import StaffRole, TenantRole
from tests.billing.conftest import SHANGHAI, make_store
from tests.billing.test_statements import english
from tests.conftest import add_member, client_for, create_staff

Status = StoreSubscription.Status


def test_the_admin_refuses_a_trial_that_is_already_over(platform_admin, pack, store_a, clock):
    """The issue's case: a trial from 2020-01-01 to 2020-01-14 was accepted."""
    clock.set(datetime(2026, 3, 5, 9, tzinfo=SHANGHAI))
    response = english(client_for(platform_admin)).post(
        reverse("admin:billing_storesubscription_add"),
        {"store": store_a.pk, "pack": pack.pk, "status": "trial", "starts_on": "2020-01-01"})
    assert response.status_code == 200
    assert b"is already over" in response.content
    assert not StoreSubscription.unscoped.filter(store=store_a).exists()
    with translation.override("en"), pytest.raises(services.BillingError, match="already over"):
        services.subscribe_store(store_a, pack, by=None, status=Status.TRIAL,
                                 starts_on=date(2020, 1, 1))
    # A period that started in the past but still runs is fine.
    running = services.subscribe_store(store_a, pack, by=None, starts_on=date(2026, 1, 1))
    assert running.ends_on == date(2026, 12, 31)


def test_periods_never_overlap_for_one_store_expired_and_cancelled_included(
        pack, store_a, clock):
    clock.set(datetime(2026, 3, 5, 9, tzinfo=SHANGHAI))
    trial = services.subscribe_store(store_a, pack, by=None, status=Status.TRIAL,
                                     starts_on=date(2026, 2, 25))  # until 10 March
    with pytest.raises(services.BillingError):
        services.subscribe_store(store_a, pack, by=None, starts_on=date(2026, 3, 10))
    # The trial expires on the books: its days stay its own.
    StoreSubscription.unscoped.filter(pk=trial.pk).update(status=Status.EXPIRED)
    with pytest.raises(services.BillingError):
        services.subscribe_store(store_a, pack, by=None, starts_on=date(2026, 3, 1))
    licence = services.subscribe_store(store_a, pack, by=None, starts_on=date(2026, 3, 11))
    # A cancelled period frees the days from its cancellation on, not the ones before.
    clock.set(datetime(2026, 3, 20, 9, tzinfo=SHANGHAI))
    services.cancel_subscription(licence, by=None)
    with pytest.raises(services.BillingError):
        services.subscribe_store(store_a, pack, by=None, starts_on=date(2026, 3, 19))
    again = services.subscribe_store(store_a, pack, by=None, starts_on=date(2026, 3, 20))
    assert again.status == Status.ACTIVE


def test_an_owner_starts_the_trial_once_per_store_and_staff_see_waiting_stores(
        tenant_a, owner_a, pack, clock, settings):
    clock.set(datetime(2026, 3, 5, 9, tzinfo=SHANGHAI))
    store = make_store(tenant_a, owner_a, "Brand New Shop")
    finance = english(client_for(create_staff(StaffRole.FINANCE)))
    waiting = finance.get(reverse("finance_waiting_stores")).content.decode()
    assert "Brand New Shop" in waiting and tenant_a.name in waiting
    assert "1 new store waiting for a pack" in finance.get(
        reverse("finance_usage")).content.decode()

    operator = add_member(tenant_a, TenantRole.OPERATOR)
    operator_client = english(client_for(operator, tenant_a))
    assert "Start the trial" not in operator_client.get(reverse("usage")).content.decode()
    assert operator_client.post(reverse("usage_start_trial"),
                                {"store": store.pk}).status_code == 403
    assert not StoreSubscription.unscoped.filter(store=store).exists()

    owner = english(client_for(owner_a, tenant_a))
    assert "Start the trial" in owner.get(reverse("usage")).content.decode()
    response = owner.post(reverse("usage_start_trial"), {"store": store.pk}, follow=True)
    trial = StoreSubscription.unscoped.get(store=store)
    assert (trial.status, trial.starts_on, trial.ends_on) == (
        Status.TRIAL, date(2026, 3, 5), date(2026, 3, 5) + timedelta(days=13))
    assert trial.pack_version == pack.current_version
    assert "runs until 2026-03-18" in response.content.decode()
    assert "Brand New Shop" not in finance.get(reverse("finance_waiting_stores")).content.decode()
    # Once per store: not again, not after it ended.
    StoreSubscription.unscoped.filter(pk=trial.pk).update(status=Status.EXPIRED)
    response = owner.post(reverse("usage_start_trial"), {"store": store.pk}, follow=True)
    assert "once per store" in response.content.decode()
    assert StoreSubscription.unscoped.filter(store=store).count() == 1
    # A trial pack that is not offered gives a clear refusal.
    other = make_store(tenant_a, owner_a, "Second Shop")
    settings.BILLING_TRIAL_PACK = "missing"
    response = owner.post(reverse("usage_start_trial"), {"store": other.pk}, follow=True)
    assert "No quota pack offers a trial" in response.content.decode()


def test_a_store_of_another_tenant_cannot_start_a_trial(tenant_a, owner_a, tenant_b, owner_b,
                                                        pack):
    store = make_store(tenant_a, owner_a, "Alpha Shop")
    response = client_for(owner_b, tenant_b).post(reverse("usage_start_trial"),
                                                  {"store": store.pk})
    assert response.status_code == 404
    assert not StoreSubscription.unscoped.filter(store=store).exists()
