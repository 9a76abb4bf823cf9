"""A tenant's month from jobs to payment, as the issue reproduced it: provisional months,
late usage on numbered adjustments, figures that agree, four eyes, payments and e-mail,
bills a finance team can file, and a reconciliation badge that follows its differences."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

from billing import quota, services
from billing import statements as st
from billing.models import StripeInvoice, UsageEvent, UsageStatement
from billing.stripe_sync import meter_identifier
from tenants.roles import StaffRole
from tests.billing.conftest import SHANGHAI, make_store, spend
from tests.billing.test_statements import MARCH, english
from tests.conftest import client_for, create_staff

Status = UsageStatement.Status
APRIL = date(2026, 4, 1)
BANK = "bank_transfer"


@pytest.fixture
def preparer(db):
    return create_staff(StaffRole.FINANCE)


@pytest.fixture
def approver(db):
    return create_staff(StaffRole.FINANCE)


@pytest.fixture
def shop(tenant_a, owner_a, pack, clock):
    """One store on the standard pack (500 included calls a day) from 1 March."""
    clock.set(datetime(2026, 3, 1, 9, tzinfo=SHANGHAI))
    store = make_store(tenant_a, owner_a, "Alpha Temu US")
    services.subscribe_store(store, pack, by=None, starts_on=date(2026, 3, 1))
    return store


def issue(statement, preparer, approver, clock=None):
    if clock is not None:
        clock.set(datetime(2026, 4, 1, 9, tzinfo=SHANGHAI))
    st.change_status(statement, "submit", by=preparer)
    st.change_status(statement, "approve", by=approver)
    return st.change_status(statement, "issue", by=approver)


def assert_figures_agree(statement: UsageStatement) -> None:
    """Header, lines, by-day and by-job: the same rows, the same sums."""
    view = st.statement_view(statement)
    header = (statement.included_calls, statement.overage_calls, statement.overage_amount)
    lines = (sum(x.included_calls for x in view.lines), sum(x.overage_calls for x in view.lines),
             sum((x.overage_amount for x in view.lines), Decimal("0.00")))
    days = (sum(d.included_calls for d in view.days), sum(d.overage_calls for d in view.days),
            sum((d.overage_amount for d in view.days), Decimal("0.00")))
    jobs = (sum(j["included"] for j in view.jobs), sum(j["overage"] for j in view.jobs),
            sum((j["amount"] for j in view.jobs), Decimal("0.00")))
    billed = UsageEvent.unscoped.filter(statement=statement)
    rows = (billed.filter(kind="included").count(), billed.filter(kind="overage").count(),
            sum((e.unit_price for e in billed), Decimal("0.00")))
    assert header == lines == days == jobs == rows, statement.number
    assert statement.total == statement.licence_amount + statement.overage_amount
    assert statement.licence_amount == sum((x.licence_amount for x in view.lines),
                                           Decimal("0.00"))


# Provisional months ------------------------------------------------------------------------

def test_the_current_month_is_provisional_it_can_be_drawn_up_not_issued(
        tenant_a, shop, clock, preparer, approver):
    spend(clock, shop, datetime(2026, 3, 1, 10, tzinfo=SHANGHAI), 3, "day1")
    statement = st.draw_up(tenant_a, MARCH, by=preparer)
    assert st.is_provisional(statement) and statement.included_calls == 3
    with translation.override("en"), pytest.raises(st.StatementError, match="provisional"):
        st.change_status(statement, "submit", by=preparer)
    assert UsageStatement.unscoped.get(pk=statement.pk).status == Status.DRAFT
    page = english(client_for(preparer)).get(
        reverse("finance_statement", args=[statement.pk])).content.decode()
    assert "Provisional" in page and 'value="submit"' not in page
    listing = english(client_for(preparer)).get(reverse("finance_usage"),
                                                {"month": "2026-03"}).content.decode()
    assert "Provisional" in listing and statement.number in listing
    # The refusal is translated for a Chinese-reading finance user.
    response = client_for(preparer).post(
        reverse("finance_statement_status", args=[statement.pk]), {"action": "submit"},
        follow=True)
    assert "暂估" in response.content.decode()
    # 23:59 on the last day in Shanghai: still provisional; at midnight the month is over.
    clock.set(datetime(2026, 3, 31, 23, 59, tzinfo=SHANGHAI))
    assert st.is_provisional(statement)
    clock.set(datetime(2026, 4, 1, 0, 0, tzinfo=SHANGHAI))
    assert not st.is_provisional(statement)
    assert st.change_status(statement, "submit", by=preparer).status == Status.UNDER_REVIEW


# Late usage: adjustments -------------------------------------------------------------------

def test_usage_after_the_statement_was_issued_and_paid_goes_on_a_numbered_adjustment(
        tenant_a, owner_a, shop, clock, preparer, approver):
    """The issue's sequence: the month's statement is drawn up, approved, issued and paid;
    then overage of that month reaches the ledger. Drawing up again makes an adjustment
    (number -A1, referring to the original) holding exactly the late calls; nothing is lost
    and nothing is billed twice."""
    spend(clock, shop, datetime(2026, 3, 31, 10, tzinfo=SHANGHAI), 500, "day")  # all included
    # A call reserved at 23:50 on 31 March settles after midnight: its ledger day is March.
    clock.set(datetime(2026, 3, 31, 23, 50, tzinfo=SHANGHAI))
    late_keys = [f"late-{n}" for n in range(50)]
    for key in late_keys:
        quota.reserve_call(shop, key)
    clock.set(datetime(2026, 4, 1, 0, 5, tzinfo=SHANGHAI))
    original = st.draw_up(tenant_a, MARCH, by=preparer)
    assert (original.included_calls, original.overage_calls) == (500, 0)
    assert original.total == Decimal("2880.00") and original.number == \
        f"ST-202603-{tenant_a.pk:05d}"
    issue(original, preparer, approver)
    st.record_payment(original, amount=Decimal("2880.00"), paid_on=APRIL, method=BANK,
                      reference="ICBC-1", by=approver)
    for key in late_keys:  # the late calls reach the ledger: 50 overage calls of March
        quota.settle_call(key)
    assert UsageEvent.unscoped.filter(day=date(2026, 3, 31), kind="overage").count() == 50

    adjustment = st.draw_up(tenant_a, MARCH, by=preparer)
    assert adjustment.pk != original.pk and adjustment.status == Status.DRAFT
    assert adjustment.number == f"{original.number}-A1" and adjustment.adjusts == original
    assert (adjustment.included_calls, adjustment.overage_calls) == (0, 50)
    assert adjustment.overage_amount == Decimal("40.00") and adjustment.total == Decimal("40.00")
    assert adjustment.licence_amount == Decimal("0.00")  # the licence was billed once
    assert st.draw_up_month(MARCH) == 1  # redrawn, not a second adjustment
    assert UsageStatement.unscoped.filter(tenant=tenant_a, period=MARCH).count() == 2
    original.refresh_from_db()
    assert (original.status, original.total, original.overage_calls) == (
        Status.PAID, Decimal("2880.00"), 0)  # the paid statement did not change
    # Every ledger row of March is billed exactly once.
    march_rows = UsageEvent.unscoped.filter(tenant=tenant_a, day__month=3)
    assert not march_rows.filter(statement__isnull=True).exists()
    assert original.total + adjustment.total == Decimal("2920.00")
    for statement in (original, adjustment):
        assert_figures_agree(statement)
    issue(adjustment, preparer, approver)
    # Nothing new: drawing up changes nothing and makes no A2.
    assert st.draw_up(tenant_a, MARCH).pk == adjustment.pk
    # More late usage after A1 was issued goes on A2.
    clock.set(datetime(2026, 3, 31, 23, 55, tzinfo=SHANGHAI))
    quota.reserve_call(shop, "later-1")
    clock.set(datetime(2026, 4, 2, 9, tzinfo=SHANGHAI))
    quota.settle_call("later-1")
    second = st.draw_up(tenant_a, MARCH)
    assert second.number == f"{original.number}-A2" and second.overage_calls == 1
    # The seller sees the adjustment, referring to the original, with its own figures.
    page = english(client_for(owner_a, tenant_a)).get(
        reverse("statement", args=[adjustment.pk])).content.decode()
    assert f"Adjustment to statement {original.number}" in page and "40.00" in page
    assert "50 × 0.80" in page


def test_the_monthly_schedule_draws_up_adjustments_of_earlier_months(
        tenant_a, shop, clock, preparer, approver):
    spend(clock, shop, datetime(2026, 3, 10, 10, tzinfo=SHANGHAI), 2, "m")
    clock.set(datetime(2026, 3, 31, 23, 59, tzinfo=SHANGHAI))
    quota.reserve_call(shop, "slow")
    clock.set(datetime(2026, 4, 1, 0, 10, tzinfo=SHANGHAI))
    assert st.draw_up_last_month() == 1
    original = UsageStatement.unscoped.get(tenant=tenant_a, period=MARCH)
    issue(original, preparer, approver)
    quota.settle_call("slow")
    clock.set(datetime(2026, 5, 1, 0, 10, tzinfo=SHANGHAI))
    assert st.draw_up_last_month() == 2  # April's draft and March's adjustment
    adjustment = UsageStatement.unscoped.get(tenant=tenant_a, period=MARCH, sequence=1)
    assert adjustment.included_calls == 1 and adjustment.adjusts == original


def test_a_month_before_the_first_subscription_gets_no_statement(tenant_a, shop, clock):
    """Seen in the demo: drawing up the month before a store's first subscription made a
    statement of 0.00 for it; the schedule made one for every tenant with a store."""
    assert st.draw_up_month(date(2026, 2, 1)) == 0
    clock.set(datetime(2026, 3, 1, 0, 10, tzinfo=SHANGHAI))
    assert st.draw_up_last_month() == 0
    assert not UsageStatement.unscoped.exists()
    assert st.draw_up_month(MARCH) == 1  # subscribed from 1 March: March has its statement


def test_usage_arriving_while_under_review_waits_and_is_never_lost(
        tenant_a, shop, clock, preparer, approver):
    spend(clock, shop, datetime(2026, 3, 10, 10, tzinfo=SHANGHAI), 2, "m")
    clock.set(datetime(2026, 3, 31, 23, 59, tzinfo=SHANGHAI))
    quota.reserve_call(shop, "slow")
    clock.set(datetime(2026, 4, 1, 9, tzinfo=SHANGHAI))
    original = st.draw_up(tenant_a, MARCH)
    st.change_status(original, "submit", by=preparer)
    quota.settle_call("slow")
    assert st.draw_up(tenant_a, MARCH).pk == original.pk  # under review: unchanged
    page = english(client_for(approver)).get(
        reverse("finance_statement", args=[original.pk])).content.decode()
    assert "1 AI call of this month reached the ledger after this statement left draft" in page
    st.change_status(original, "approve", by=approver)
    st.change_status(original, "issue", by=approver)
    adjustment = st.draw_up(tenant_a, MARCH)
    assert adjustment.sequence == 1 and adjustment.included_calls == 1


def test_header_by_day_and_by_job_agree_for_every_statement_of_the_fixture_months(
        tenant_a, owner_a, march, small_pack, clock, preparer, approver):
    """The `march` fixture (two stores, two price versions, a trial, April usage), plus
    generation jobs and late usage on adjustments: every statement's figures agree."""
    from generation.models import GenerationItem, GenerationJob
    from tests.generation.conftest import make_product

    one = march["one"]
    clock.set(datetime(2026, 3, 20, 9, tzinfo=SHANGHAI))
    job = GenerationJob.unscoped.create(tenant=tenant_a, store=one, created_by=owner_a)
    items = [GenerationItem.unscoped.create(tenant=tenant_a, job=job, store=one,
                                            product=make_product(one), kind="title",
                                            language="en") for _ in range(4)]
    for item in items:
        quota.reserve_call(one, item.quota_key)
        quota.settle_call(item.quota_key)
    clock.set(datetime(2026, 3, 31, 23, 58, tzinfo=SHANGHAI))
    quota.reserve_call(one, "late-march")
    clock.set(datetime(2026, 4, 1, 0, 30, tzinfo=SHANGHAI))
    march_statement = st.draw_up(tenant_a, MARCH, by=preparer)
    issue(march_statement, preparer, approver)
    quota.settle_call("late-march")
    clock.set(datetime(2026, 5, 1, 0, 30, tzinfo=SHANGHAI))
    st.draw_up(tenant_a, MARCH)
    st.draw_up(tenant_a, APRIL)
    statements = list(UsageStatement.unscoped.filter(tenant=tenant_a))
    assert len(statements) == 3
    for statement in statements:
        assert_figures_agree(statement)
    by_job = {row["job"].pk if row["job"] else None: row
              for row in st.jobs_of(march_statement)}
    assert (by_job[job.pk]["included"], by_job[job.pk]["overage"]) == (2, 2)
    assert by_job[job.pk]["amount"] == Decimal("2.50")  # v2's 1.25 a call
    # What the issue saw: the seller's by-job table of the paid statement was empty.
    page = english(client_for(owner_a, tenant_a)).get(
        reverse("statement", args=[march_statement.pk])).content.decode()
    assert f"#{job.pk}" in page and "No AI calls were charged" not in page


# Four eyes ---------------------------------------------------------------------------------

def test_four_eyes_the_approver_is_not_who_drew_up_or_submitted(
        tenant_a, shop, clock, preparer, approver, settings):
    spend(clock, shop, datetime(2026, 3, 10, 10, tzinfo=SHANGHAI), 2, "m")
    clock.set(datetime(2026, 4, 1, 9, tzinfo=SHANGHAI))
    submitter = create_staff(StaffRole.FINANCE)
    statement = st.draw_up(tenant_a, MARCH, by=preparer)
    st.change_status(statement, "submit", by=submitter)
    for person in (preparer, submitter):
        with translation.override("en"), pytest.raises(st.StatementError, match="Four eyes"):
            st.change_status(statement, "approve", by=person)
        page = english(client_for(person)).get(
            reverse("finance_statement", args=[statement.pk])).content.decode()
        assert 'value="approve"' not in page
    assert st.change_status(statement, "approve", by=approver).approved_by == approver
    # The setting turns it off (a one-person finance team).
    settings.BILLING_FOUR_EYES = False
    april = st.draw_up(tenant_a, APRIL, by=preparer)
    clock.set(datetime(2026, 5, 1, 9, tzinfo=SHANGHAI))
    st.change_status(april, "submit", by=preparer)
    assert st.change_status(april, "approve", by=preparer).status == Status.APPROVED


# Payments and e-mail -----------------------------------------------------------------------

def test_mark_paid_records_payments_partial_ones_shown_and_the_seller_is_emailed(
        tenant_a, owner_a, shop, clock, preparer, approver, django_capture_on_commit_callbacks):
    spend(clock, shop, datetime(2026, 3, 10, 10, tzinfo=SHANGHAI), 2, "m")
    statement = st.draw_up(tenant_a, MARCH, by=preparer)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        issue(statement, preparer, approver, clock)
    assert len(mail.outbox) == 1
    issued = mail.outbox[0]
    assert issued.to == [owner_a.email] and statement.number in issued.subject
    assert "已出具" in issued.subject
    assert "Your usage statement" in issued.body and "账单" in issued.body
    assert "2,880.00" in issued.body

    finance = english(client_for(approver))
    pay = reverse("finance_statement_pay", args=[statement.pk])
    with django_capture_on_commit_callbacks(execute=True):
        finance.post(pay, {"amount": "1000.00", "paid_on": "2026-04-01",
                           "method": "alipay", "reference": "ALI-778"})
    statement.refresh_from_db()
    assert statement.status == Status.PARTIALLY_PAID
    assert statement.amount_paid == Decimal("1000.00") and statement.outstanding == \
        Decimal("1880.00")
    payment = statement.payments.get()
    assert (payment.amount, payment.paid_on, payment.method, payment.reference,
            payment.recorded_by) == (Decimal("1000.00"), APRIL, "alipay", "ALI-778",
                                     approver)
    assert len(mail.outbox) == 2 and "partial payment" in mail.outbox[1].body
    page = finance.get(reverse("finance_statement", args=[statement.pk])).content.decode()
    assert "Partially paid" in page and "1,880.00 outstanding" in page and "ALI-778" in page
    seller_page = english(client_for(owner_a, tenant_a)).get(
        reverse("statement", args=[statement.pk])).content.decode()
    assert "Partially paid" in seller_page and "1,000.00" in seller_page
    # More than is outstanding is refused; the rest completes the payment.
    with translation.override("en"), pytest.raises(st.StatementError, match="outstanding"):
        st.record_payment(statement, amount=Decimal("1880.01"), paid_on=APRIL, method=BANK,
                          reference="X", by=approver)
    with pytest.raises(st.StatementError):
        st.record_payment(statement, amount=Decimal("10.00"), paid_on=APRIL, method=BANK,
                          reference=" ", by=approver)
    with django_capture_on_commit_callbacks(execute=True):
        st.record_payment(statement, amount=Decimal("1880.00"), paid_on=APRIL,
                          method=BANK, reference="ICBC-9", by=approver)
    statement.refresh_from_db()
    assert statement.status == Status.PAID and statement.outstanding == Decimal("0.00")
    assert len(mail.outbox) == 3 and "paid in full" in mail.outbox[2].body
    assert "已付清" in mail.outbox[2].subject
    # A bad amount on the form is an error message, not a 500.
    response = finance.post(pay, {"amount": "abc", "paid_on": "2026-04-02", "method": "alipay",
                                  "reference": "R"})
    assert response.status_code == 302


# A bill a finance team can file ------------------------------------------------------------

def test_statement_carries_number_legal_details_and_drill_downs_in_every_version(
        tenant_a, owner_a, shop, clock, preparer, approver, settings):
    settings.BILLING_ISV_LEGAL_NAME = "深圳列表智能科技有限公司"
    settings.BILLING_ISV_TAX_ID = "91440300MA5EXAMPLE"
    settings.BILLING_ISV_ADDRESS = "深圳市南山区科技园"
    settings.BILLING_ISV_BANK_ACCOUNT = "招商银行 7559 0000 0000 001"
    tenant_a.licence_number = "91310000MA1SELLER"
    tenant_a.save()
    spend(clock, shop, datetime(2026, 3, 10, 10, tzinfo=SHANGHAI), 3, "m")
    statement = issue(st.draw_up(tenant_a, MARCH, by=preparer), preparer, approver, clock)
    seller = english(client_for(owner_a, tenant_a))
    page = seller.get(reverse("statement", args=[statement.pk])).content.decode()
    for text in (statement.number, "深圳列表智能科技有限公司", "91440300MA5EXAMPLE",
                 "招商银行", tenant_a.name, "91310000MA1SELLER", "By day", "By job",
                 "2026-03-10"):
        assert text in page, text
    # Renaming the company later does not change the issued bill.
    tenant_a.name = "Renamed Ltd"
    tenant_a.save()
    response = seller.get(reverse("statement_export", args=[statement.pk, "csv"]))
    assert statement.number in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    flat = [cell for row in rows for cell in row]
    assert ["Statement number", statement.number] in rows
    assert "深圳列表智能科技有限公司" in flat and "91310000MA1SELLER" in flat
    assert "Renamed Ltd" not in flat[2:]
    day_header = rows.index(["Store", "Day", "Included calls", "Overage calls",
                             "Overage (CNY)"])
    assert rows[day_header + 1] == ["Alpha Temu US", "2026-03-10", "3", "0", "0.00"]
    assert ["By job"] in rows and ["Calls outside generation jobs", "", "", "", "3", "0",
                                   "0.00"] in rows
    book = load_workbook(io.BytesIO(seller.get(
        reverse("statement_export", args=[statement.pk, "xlsx"])).content))
    assert book.sheetnames == ["2026-03", "By day", "By job"]
    assert [c.value for c in book["By day"][2]][:4] == ["Alpha Temu US", "2026-03-10", 3, 0]
    first = [list(r) for r in book["2026-03"].iter_rows(values_only=True)]
    assert ["Statement number", statement.number] in [r[:2] for r in first]


# Reconciliation ----------------------------------------------------------------------------

def test_the_balanced_badge_follows_every_difference_on_the_page(
        tenant_a, shop, clock, preparer):
    """The issue's page: the ledger matched Stripe's meter, but the statement total was
    2,880.00 more than Stripe invoiced; the badge said "Balanced"."""
    spend(clock, shop, datetime(2026, 3, 10, 10, tzinfo=SHANGHAI), 2, "m")
    clock.set(datetime(2026, 4, 1, 9, tzinfo=SHANGHAI))
    st.draw_up(tenant_a, MARCH, by=preparer)
    client = english(client_for(preparer))
    url = reverse("finance_reconciliation")
    page = client.get(url, {"tenant": tenant_a.slug, "month": "2026-03"}).content.decode()
    assert "2,880.00" in page and 'class="difference"' in page
    assert "Balanced" not in page and "1 difference found" in page
    StripeInvoice.unscoped.create(
        tenant=tenant_a, stripe_invoice_id="in_march", total=Decimal("2880.00"),
        period_start=datetime(2026, 3, 1, tzinfo=SHANGHAI))
    page = client.get(url, {"tenant": tenant_a.slug, "month": "2026-03"}).content.decode()
    assert "Balanced" in page and 'class="difference"' not in page


def test_differences_name_store_day_job_and_sku_not_internal_keys(
        tenant_a, owner_a, small_pack, clock, preparer):
    from generation.models import GenerationItem, GenerationJob
    from tests.generation.conftest import make_product

    clock.set(datetime(2026, 3, 5, 9, tzinfo=SHANGHAI))
    store = make_store(tenant_a, owner_a, "Alpha Temu US")
    services.subscribe_store(store, small_pack, by=None, starts_on=date(2026, 3, 1))
    job = GenerationJob.unscoped.create(tenant=tenant_a, store=store, created_by=owner_a)
    products = [make_product(store) for _ in range(3)]
    for number, product in enumerate(products, start=40):
        product.sku = f"SKU-RED-{number}"
        product.save()
    items = [GenerationItem.unscoped.create(tenant=tenant_a, job=job, store=store,
                                            product=product, kind="title", language="fr")
             for product in products]
    for item in items:
        quota.reserve_call(store, item.quota_key)
        quota.settle_call(item.quota_key)
    overage = UsageEvent.unscoped.get(kind="overage")
    differences = st.reconciliation_of(tenant_a, MARCH).differences
    named = [d for d in differences if d.sku]
    assert len(named) == 1
    assert (named[0].store, named[0].day, named[0].job_id, named[0].sku) == (
        "Alpha Temu US", date(2026, 3, 5), job.pk, "SKU-RED-42")
    clock.set(datetime(2026, 4, 1, 9, tzinfo=SHANGHAI))
    page = english(client_for(preparer)).get(reverse("finance_reconciliation"), {
        "tenant": tenant_a.slug, "month": "2026-03"}).content.decode()
    assert "SKU-RED-42" in page and f"#{job.pk}" in page
    assert overage.item_key not in page  # e.g. gen:671:1
    UsageEvent.unscoped.filter(pk=overage.pk).update(
        reported_to_stripe_at=overage.created_at, stripe_meter_event_id=meter_identifier(overage))
    assert not [d for d in st.reconciliation_of(tenant_a, MARCH).differences if d.sku]
