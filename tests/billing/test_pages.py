"""The sellers' usage page, the overage-cap form, the billing API, permissions and the admin."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from billing import quota, services
from billing.models import QuotaPack, StoreSubscription
from tenants import api_keys
from tenants.roles import StaffRole, TenantRole
from tenants.scope import tenant_scope
from tests.billing.conftest import make_store
from tests.conftest import add_member, client_for, create_staff


def english(client: Client) -> Client:
    client.cookies["django_language"] = "en"
    return client


def spend(store, included: int, overage: int = 0) -> None:
    for n in range(included + overage):
        quota.reserve_call(store, f"page-{store.pk}-{n}")
        quota.settle_call(f"page-{store.pk}-{n}")


# The usage page ----------------------------------------------------------------------------

def test_usage_page_shows_today_month_and_subscription(tenant_a, owner_a, store_a,
                                                       subscription_a):
    services.set_daily_overage_cap(store_a, 20, by=owner_a)
    spend(store_a, 500, 3)
    quota.reserve_call(store_a, "in-flight")
    page = english(client_for(owner_a, tenant_a)).get(reverse("usage")).content.decode()
    assert "Alpha Temu US" in page
    assert "500 / 500" in page  # included used of included
    assert "3 calls · CNY 2.40" in page  # overage so far
    assert "20 calls" in page  # the cap
    assert "Resets at" in page and "00:00" in page and "Asia/Shanghai" in page
    assert "Active" in page and subscription_a.ends_on.strftime("%Y-%m-%d") in page
    assert "503 calls charged; overage CNY 2.40." in page  # this month
    assert 'name="daily_overage_cap"' in page  # owners may set the cap


def test_usage_page_empty_states(tenant_a, owner_a):
    page = english(client_for(owner_a, tenant_a)).get(reverse("usage")).content.decode()
    assert "No stores yet" in page
    assert "No AI calls were charged in this month." in page
    assert "No subscriptions yet" in page


def test_store_without_subscription_says_why_on_the_page(tenant_a, owner_a, store_a):
    page = english(client_for(owner_a, tenant_a)).get(reverse("usage")).content.decode()
    assert "No active subscription" in page
    assert "has no subscription, so AI generation cannot start" in page


def test_usage_page_in_chinese(tenant_a, owner_a, store_a, subscription_a):
    page = client_for(owner_a, tenant_a).get(reverse("usage")).content.decode()
    assert "今日" in page or "今天" in page
    assert "Included calls used" not in page


def test_month_navigation(tenant_a, owner_a, store_a, subscription_a):
    client = english(client_for(owner_a, tenant_a))
    spend(store_a, 2)
    earlier = client.get(reverse("usage"), {"month": "2020-01"}).content.decode()
    assert "Month 2020-01" in earlier and "No AI calls were charged in this month." in earlier
    assert client.get(reverse("usage"), {"month": "garbage"}).status_code == 200


def test_reviewer_sees_usage_but_no_cap_form(tenant_a, store_a, subscription_a):
    reviewer = add_member(tenant_a, TenantRole.REVIEWER)
    page = client_for(reviewer, tenant_a).get(reverse("usage")).content.decode()
    assert "Alpha Temu US" in page and 'name="daily_overage_cap"' not in page


# The overage cap form ----------------------------------------------------------------------

def test_owner_sets_and_clears_the_cap_audited(tenant_a, owner_a, store_a, subscription_a):
    client = english(client_for(owner_a, tenant_a))
    response = client.post(reverse("usage_overage_cap"),
                           {"store": store_a.pk, "daily_overage_cap": "0"}, follow=True)
    assert "may now use at most 0 overage calls a day" in response.content.decode()
    subscription_a.refresh_from_db()
    assert subscription_a.daily_overage_cap == 0
    client.post(reverse("usage_overage_cap"), {"store": store_a.pk, "daily_overage_cap": ""})
    subscription_a.refresh_from_db()
    assert subscription_a.daily_overage_cap is None
    events = AuditEvent.unscoped.filter(tenant=tenant_a, action="subscription.overage_cap")
    assert [(e.details["before"], e.details["after"]) for e in events.order_by("id")] == [
        (None, 0), (0, None)]
    assert all(e.actor == owner_a for e in events)


@pytest.mark.parametrize("role", [TenantRole.OPERATOR, TenantRole.REVIEWER, TenantRole.VIEWER])
def test_only_owners_set_the_cap(role, tenant_a, store_a, subscription_a):
    member = add_member(tenant_a, role)
    response = client_for(member, tenant_a).post(
        reverse("usage_overage_cap"), {"store": store_a.pk, "daily_overage_cap": "5"})
    assert response.status_code == 403
    subscription_a.refresh_from_db()
    assert subscription_a.daily_overage_cap is None


def test_cap_form_cannot_reach_another_tenants_store(tenant_a, store_a, subscription_a,
                                                      tenant_b, owner_b):
    response = client_for(owner_b, tenant_b).post(
        reverse("usage_overage_cap"), {"store": store_a.pk, "daily_overage_cap": "0"})
    assert response.status_code == 302
    subscription_a.refresh_from_db()
    assert subscription_a.daily_overage_cap is None


def test_cap_on_store_without_subscription_is_refused(tenant_a, owner_a, store_a):
    response = english(client_for(owner_a, tenant_a)).post(
        reverse("usage_overage_cap"), {"store": store_a.pk, "daily_overage_cap": "1"},
        follow=True)
    assert "has no running subscription" in response.content.decode()


def test_negative_cap_is_refused(tenant_a, owner_a, store_a, subscription_a):
    client_for(owner_a, tenant_a).post(reverse("usage_overage_cap"),
                                       {"store": store_a.pk, "daily_overage_cap": "-1"})
    subscription_a.refresh_from_db()
    assert subscription_a.daily_overage_cap is None


# The API -----------------------------------------------------------------------------------

@pytest.fixture
def api_a(tenant_a, owner_a) -> Client:
    with tenant_scope(tenant_a):
        key = api_keys.create_api_key(created_by=owner_a, name="ERP", role=TenantRole.VIEWER)
    return Client(HTTP_AUTHORIZATION=f"Api-Key {key.raw_key}")


def test_api_usage_today(api_a, store_a, subscription_a):
    services.set_daily_overage_cap(store_a, 5, by=None)
    spend(store_a, 500, 2)
    body = api_a.get("/api/v1/usage/today/").json()
    assert body["count"] == 1
    row = body["results"][0]
    assert row["store"] == store_a.pk and row["store_name"] == "Alpha Temu US"
    assert (row["included_calls"], row["included_used"], row["included_left"]) == (500, 500, 0)
    assert (row["overage_used"], row["overage_amount"]) == (2, "1.60")
    assert (row["overage_cap"], row["calls_left"]) == (5, 3)
    assert row["resets_at"].endswith("T00:00:00+08:00")
    assert row["subscription"] == subscription_a.pk and row["unusable_reason"] == ""
    detail = api_a.get(f"/api/v1/usage/today/{store_a.pk}/").json()
    assert detail["overage_amount"] == "1.60"


def test_api_usage_today_for_a_store_without_subscription(api_a, store_a):
    row = api_a.get(f"/api/v1/usage/today/{store_a.pk}/").json()
    assert row["subscription"] is None and row["calls_left"] == 0
    assert row["unusable_reason"]


def test_api_subscriptions_are_read_only(api_a, store_a, subscription_a):
    body = api_a.get("/api/v1/subscriptions/").json()
    assert [s["id"] for s in body["results"]] == [subscription_a.pk]
    item = body["results"][0]
    assert (item["pack"], item["pack_version"], item["status"]) == ("Standard", 1, "active")
    assert (item["licence_price_per_year"], item["overage_price_per_call"]) == ("2880.00",
                                                                                "0.80")
    assert api_a.post("/api/v1/subscriptions/", {}).status_code == 405
    url = f"/api/v1/subscriptions/{subscription_a.pk}/"
    assert api_a.get(url).status_code == 200
    assert api_a.delete(url).status_code == 405


def test_api_never_shows_another_tenants_usage(store_a, subscription_a, tenant_b, owner_b):
    with tenant_scope(tenant_b):
        key = api_keys.create_api_key(created_by=owner_b, name="B", role=TenantRole.OWNER)
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key.raw_key}")
    assert client.get("/api/v1/usage/today/").json()["results"] == []
    assert client.get("/api/v1/subscriptions/").json()["results"] == []
    assert client.get(f"/api/v1/usage/today/{store_a.pk}/").status_code == 404
    assert client.get(f"/api/v1/subscriptions/{subscription_a.pk}/").status_code == 404


def test_api_needs_a_tenant(db):
    assert Client().get("/api/v1/usage/today/").status_code == 401


# The admin ---------------------------------------------------------------------------------

def test_platform_admin_changes_pack_terms_as_a_new_version(platform_admin, pack):
    client = client_for(platform_admin)
    url = reverse("admin:billing_quotapack_change", args=[pack.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {
        "code": "standard", "name": "Standard", "is_offered": "on",
        "licence_price_per_year": "2880.00", "included_calls_per_day": "500",
        "overage_price_per_call": "0.90", "sku_limit": "5000",
        "marketplaces": ["temu", "aliexpress"],
        "versions-TOTAL_FORMS": "1", "versions-INITIAL_FORMS": "1",
        "versions-MIN_NUM_FORMS": "0", "versions-MAX_NUM_FORMS": "1000",
        "versions-0-id": pack.current_version.pk, "versions-0-pack": pack.pk,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    pack = QuotaPack.objects.get(pk=pack.pk)
    assert pack.current_version.number == 2
    assert pack.current_version.overage_price_per_call == Decimal("0.90")
    assert pack.versions.get(number=1).overage_price_per_call == Decimal("0.80")


def test_platform_admin_subscribes_renews_and_cancels(platform_admin, pack, store_a):
    client = english(client_for(platform_admin))
    response = client.post(reverse("admin:billing_storesubscription_add"), {
        "store": store_a.pk, "pack": pack.pk, "status": "active", "starts_on": "",
        "daily_overage_cap": "",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    subscription = StoreSubscription.unscoped.get(store=store_a)
    assert subscription.pack_version == pack.current_version
    # A second one for the same period is refused on the form.
    again = client.post(reverse("admin:billing_storesubscription_add"), {
        "store": store_a.pk, "pack": pack.pk, "status": "active"})
    assert again.status_code == 200 and b"already has a subscription" in again.content
    changelist = reverse("admin:billing_storesubscription_changelist")
    client.post(changelist, {"action": "renew", "_selected_action": [subscription.pk]})
    renewal = StoreSubscription.unscoped.get(renewed_from=subscription)
    assert renewal.starts_on == subscription.ends_on + timedelta(days=1)
    client.post(changelist, {"action": "cancel", "_selected_action": [subscription.pk]})
    subscription.refresh_from_db()
    assert subscription.status == "cancelled"
    actions = set(AuditEvent.unscoped.filter(tenant=store_a.tenant)
                  .values_list("action", flat=True))
    assert {"subscription.created", "subscription.renewed", "subscription.cancelled"} <= actions


def test_support_staff_only_look(pack, store_a, subscription_a):
    support = create_staff(StaffRole.SUPPORT)
    client = client_for(support)
    assert client.get(reverse("admin:billing_storesubscription_changelist")).status_code == 200
    assert client.get(reverse("admin:billing_storesubscription_add")).status_code == 403
    client.post(reverse("admin:billing_storesubscription_changelist"),
                {"action": "cancel", "_selected_action": [subscription_a.pk]})
    subscription_a.refresh_from_db()
    assert subscription_a.status == "active"


def test_usage_events_are_read_only_in_the_admin(platform_admin, store_a, subscription_a):
    spend(store_a, 1)
    client = client_for(platform_admin)
    assert client.get(reverse("admin:billing_usageevent_changelist")).status_code == 200
    assert client.get(reverse("admin:billing_usageevent_add")).status_code == 403


@pytest.fixture
def stripe_records(store_a, subscription_a):
    """One row of each Stripe model, as sync and webhooks write them."""
    from billing.models import StripeCustomer, StripeEvent, StripeInvoice

    tenant = store_a.tenant
    spend(store_a, 1)
    return [
        StripeCustomer.unscoped.create(tenant=tenant, stripe_customer_id="cus_admin",
                                       usage_subscription_id="sub_usage"),
        StripeInvoice.unscoped.create(tenant=tenant, stripe_invoice_id="in_admin",
                                      status="open", total=Decimal("2880.00"),
                                      amount_due=Decimal("2880.00")),
        StripeEvent.objects.create(event_id="evt_admin", type="invoice.finalized",
                                   tenant=tenant),
    ]


READ_ONLY_MODELS = ["usageevent", "dailyusage", "reservation", "stripecustomer",
                    "stripeinvoice", "stripeevent"]


@pytest.mark.parametrize("role", [StaffRole.PLATFORM_ADMIN, StaffRole.SUPPORT])
def test_quota_and_stripe_records_are_read_only_in_the_admin(stripe_records, role):
    from django.apps import apps

    client = english(client_for(create_staff(role)))
    for name in READ_ONLY_MODELS:
        model = apps.get_model("billing", name)
        row = model._base_manager.order_by("pk").first()
        changelist = client.get(reverse(f"admin:billing_{name}_changelist"))
        assert changelist.status_code == 200, name
        change = client.get(reverse(f"admin:billing_{name}_change", args=[row.pk]))
        assert change.status_code == 200, name
        assert b'name="_save"' not in change.content, name  # a view, not a form
        assert client.get(reverse(f"admin:billing_{name}_add")).status_code == 403, name
        delete = client.get(reverse(f"admin:billing_{name}_delete", args=[row.pk]))
        assert delete.status_code == 403, name
    customers = client.get(reverse("admin:billing_stripecustomer_changelist")).content
    assert b"cus_admin" in customers and b"sub_usage" in customers
    # The outbox: overage not yet acknowledged by Stripe, filtered by the empty field.
    queued = client.get(reverse("admin:billing_usageevent_changelist"),
                        {"reported_to_stripe_at__isempty": "1"})
    assert queued.status_code == 200


def test_sellers_cannot_open_the_billing_admin(tenant_a, owner_a, pack):
    response = client_for(owner_a, tenant_a).get(reverse("admin:billing_quotapack_changelist"))
    assert response.status_code in (302, 403)


def test_another_tenants_store_on_one_page(tenant_a, owner_a, tenant_b, owner_b, pack):
    mine = make_store(tenant_a, owner_a, "Mine")
    theirs = make_store(tenant_b, owner_b, "Theirs Secret Shop")
    services.subscribe_store(mine, pack, by=None)
    services.subscribe_store(theirs, pack, by=None)
    page = client_for(owner_a, tenant_a).get(reverse("usage")).content.decode()
    assert "Mine" in page and "Theirs Secret Shop" not in page
