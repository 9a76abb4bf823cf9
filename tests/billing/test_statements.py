"""Monthly usage statements: drawing up, the review workflow, permissions, exports, the
reconciliation page and the monthly schedule."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django_q.models import Schedule
from openpyxl import load_workbook

from audit.models import AuditEvent
from billing import quota, services
from billing import statements as st
from billing.models import StatementEvent, StripeInvoice, UsageEvent, UsageStatement
from tenants.roles import StaffRole
from tests.billing.conftest import SHANGHAI, make_store, spend
from tests.conftest import client_for, create_staff

MARCH = date(2026, 3, 1)
Status = UsageStatement.Status


def english(client: Client) -> Client:
    client.cookies["django_language"] = "en"
    return client


# Drawing up --------------------------------------------------------------------------------

def test_statement_totals_are_exact_per_store_and_price_version(tenant_a, march):
    statement = st.draw_up(tenant_a, MARCH)
    assert statement.status == Status.DRAFT and statement.period == MARCH
    lines = {line.store.display_name: line for line in statement.lines.all()}
    one, two = lines["Alpha One"], lines["Alpha Two"]
    assert one.licence_amount == Decimal("5880.00")  # v1 2880.00 + v2 3000.00, both start in March
    assert one.included_calls == 4
    assert one.overage_calls == 5
    assert one.overage_detail == [{"unit_price": "0.80", "calls": 3, "amount": "2.40"},
                                  {"unit_price": "1.25", "calls": 2, "amount": "2.50"}]
    assert one.overage_amount == Decimal("4.90")
    assert one.total == Decimal("5884.90")
    assert (two.licence_amount, two.included_calls, two.overage_calls, two.total) == (
        Decimal("0.00"), 1, 0, Decimal("0.00"))  # a trial is free; 23:30 local is still March
    assert statement.licence_amount == Decimal("5880.00")
    assert statement.included_calls == 5 and statement.overage_calls == 5
    assert statement.overage_amount == Decimal("4.90")
    assert statement.total == Decimal("5884.90")
    april = st.draw_up(tenant_a, date(2026, 4, 1))
    assert april.overage_calls == 1 and april.total == Decimal("1.25")


def test_drawing_up_is_idempotent_and_freezes_after_draft(tenant_a, march, clock, finance):
    first = st.draw_up(tenant_a, MARCH)
    again = st.draw_up(tenant_a, MARCH)
    assert again.pk == first.pk
    assert UsageStatement.unscoped.filter(tenant=tenant_a).count() == 1
    assert again.lines.count() == 2 and again.total == first.total
    assert StatementEvent.objects.filter(statement=first).count() == 1  # nothing changed
    assert AuditEvent.unscoped.filter(action=AuditEvent.Action.STATEMENT_DRAWN_UP).count() == 1
    # A late call on a March day is picked up by the draft...
    spend(clock, march["one"], datetime(2026, 3, 31, 12, tzinfo=SHANGHAI), 3, "late")
    redrawn = st.draw_up(tenant_a, MARCH)
    assert redrawn.total == Decimal("5886.15") and redrawn.overage_calls == 6
    # ... but once under review (after the month ended) the statement no longer changes.
    clock.set(datetime(2026, 4, 1, 0, 10, tzinfo=SHANGHAI))
    st.change_status(redrawn, "submit", by=finance)
    spend(clock, march["one"], datetime(2026, 3, 31, 13, tzinfo=SHANGHAI), 1, "later")
    assert st.draw_up(tenant_a, MARCH).total == Decimal("5886.15")
    assert st.draw_up_month(MARCH) == 0  # the only statement is under review: no draft redrawn


def test_the_monthly_schedule_draws_up_last_month(tenant_a, march, clock):
    clock.set(datetime(2026, 4, 1, 0, 10, tzinfo=SHANGHAI))
    assert st.draw_up_last_month() == 1
    assert UsageStatement.unscoped.get(tenant=tenant_a).period == MARCH
    schedule = Schedule.objects.get(func="billing.statements.draw_up_last_month")
    assert schedule.schedule_type == Schedule.MONTHLY and schedule.repeats == -1


# Workflow and permissions ------------------------------------------------------------------

@pytest.fixture
def finance(db):
    return create_staff(StaffRole.FINANCE)


@pytest.fixture
def approver(db):
    return create_staff(StaffRole.FINANCE)


def test_workflow_with_comments_and_audit(tenant_a, march, finance, approver):
    statement = st.draw_up(tenant_a, MARCH)
    client = english(client_for(finance))
    second = english(client_for(approver))
    url = reverse("finance_statement_status", args=[statement.pk])
    client.post(url, {"action": "submit"})
    with pytest.raises(st.StatementError):
        st.change_status(statement, "return", by=finance)  # a return needs a reason
    client.post(url, {"action": "return", "comment": "Check store two"})
    assert UsageStatement.unscoped.get(pk=statement.pk).status == Status.DRAFT
    client.post(url, {"action": "submit", "comment": "ok submit"})
    for action in ("approve", "issue"):
        second.post(url, {"action": action, "comment": f"ok {action}"})
    second.post(reverse("finance_statement_pay", args=[statement.pk]), {
        "amount": "5884.90", "paid_on": "2026-04-01", "method": "bank_transfer",
        "reference": "ICBC 2026040100017"})
    statement.refresh_from_db()
    assert statement.status == Status.PAID
    client.post(reverse("finance_statement_comment", args=[statement.pk]),
                {"comment": "Paid by bank transfer"})
    history = list(statement.events.values_list("from_status", "to_status", "comment"))
    assert history == [
        ("", "draft", ""), ("draft", "under_review", ""),
        ("under_review", "draft", "Check store two"), ("draft", "under_review", "ok submit"),
        ("under_review", "approved", "ok approve"), ("approved", "issued", "ok issue"),
        ("issued", "paid", "Payment of CNY 5,884.90 on 2026-04-01 by Bank transfer, "
                           "reference ICBC 2026040100017."),
        ("", "", "Paid by bank transfer")]
    page = client.get(reverse("finance_statement", args=[statement.pk])).content.decode()
    assert "Draft → Under review" in page and "draft → under_review" not in page
    changes = AuditEvent.unscoped.filter(action=AuditEvent.Action.STATEMENT_STATUS_CHANGED,
                                         tenant=tenant_a).order_by("id")
    assert [(e.details["before"], e.details["after"], e.actor_id) for e in changes][-1] == (
        "issued", "paid", approver.pk)
    assert changes.count() == 6
    assert AuditEvent.unscoped.filter(action=AuditEvent.Action.STATEMENT_COMMENTED).count() == 1
    page = client.get(reverse("finance_statement", args=[statement.pk])).content.decode()
    assert "Paid by bank transfer" in page and "Check store two" in page
    assert "ICBC 2026040100017" in page
    # Paid is final: no step skips or goes back.
    with pytest.raises(st.StatementError):
        st.change_status(statement, "approve", by=approver)


def test_a_draft_cannot_skip_review(tenant_a, march, finance):
    statement = st.draw_up(tenant_a, MARCH)
    with pytest.raises(st.StatementError):
        st.change_status(statement, "approve", by=finance)
    with pytest.raises(st.StatementError):
        st.change_status(statement, "issue", by=finance)


def test_platform_admin_approves_support_cannot(tenant_a, march, platform_admin):
    statement = st.draw_up(tenant_a, MARCH)
    support = create_staff(StaffRole.SUPPORT)
    assert client_for(support).get(
        reverse("finance_statement", args=[statement.pk])).status_code == 403
    response = client_for(support).post(
        reverse("finance_statement_status", args=[statement.pk]), {"action": "submit"})
    assert response.status_code == 403
    with pytest.raises(st.StatementError):
        st.change_status(statement, "submit", by=support)
    assert UsageStatement.unscoped.get(pk=statement.pk).status == Status.DRAFT
    admin = client_for(platform_admin)
    url = reverse("finance_statement_status", args=[statement.pk])
    client_for(create_staff(StaffRole.FINANCE)).post(url, {"action": "submit"})
    admin.post(url, {"action": "approve"})
    assert UsageStatement.unscoped.get(pk=statement.pk).status == Status.APPROVED


def test_sellers_see_only_their_own_issued_statements(tenant_a, owner_a, tenant_b, owner_b,
                                                      march, finance, approver):
    statement = st.draw_up(tenant_a, MARCH)
    seller = english(client_for(owner_a, tenant_a))
    detail = reverse("statement", args=[statement.pk])
    assert seller.get(detail).status_code == 404  # a draft is finance's business
    assert "2026-03" not in seller.get(reverse("statements")).content.decode()
    st.change_status(statement, "submit", by=finance)
    st.change_status(statement, "approve", by=approver)
    assert seller.get(detail).status_code == 404
    st.change_status(statement, "issue", by=approver)
    listing = seller.get(reverse("statements")).content.decode()
    assert "2026-03" in listing and "5,884.90" in listing
    page = seller.get(detail).content.decode()
    assert "Alpha One" in page and "3 × 0.80 + 2 × 1.25" in page and "5,884.90" in page
    assert "Check" not in page and "History" not in page  # no internal review notes
    assert seller.get(reverse("statement_export", args=[statement.pk, "csv"])).status_code == 200
    other = client_for(owner_b, tenant_b)
    assert other.get(detail).status_code == 404
    assert other.get(reverse("statement_export", args=[statement.pk, "xlsx"])).status_code == 404
    assert "5,884.90" not in other.get(reverse("statements")).content.decode()
    assert owner_a.is_isv_staff is False
    assert seller.get(reverse("finance_statement", args=[statement.pk])).status_code == 403


def test_sellers_see_their_stripe_invoices(tenant_a, owner_a, tenant_b, owner_b):
    StripeInvoice.unscoped.create(tenant=tenant_a, stripe_invoice_id="in_alpha_1",
                                  status=StripeInvoice.Status.PAID, total=Decimal("2880.00"))
    StripeInvoice.unscoped.create(tenant=tenant_b, stripe_invoice_id="in_beta_1")
    page = client_for(owner_a, tenant_a).get(reverse("statements")).content.decode()
    assert "in_alpha_1" in page and "2,880.00" in page and "in_beta_1" not in page


# Exports -----------------------------------------------------------------------------------

def test_csv_export(tenant_a, march, finance):
    statement = st.draw_up(tenant_a, MARCH)
    response = english(client_for(finance)).get(
        reverse("finance_statement_export", args=[statement.pk, "csv"]))
    assert response["Content-Type"].startswith("text/csv")
    assert "statement-" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header = rows.index(["Store", "Marketplace site", "Licence (CNY)", "Included calls used",
                         "Overage calls", "Overage unit price (CNY)", "Overage (CNY)",
                         "Total (CNY)"])
    assert rows[1] == ["Month", "2026-03"]
    one = rows[header + 1]
    assert one[0] == "Alpha One" and one[2:] == ["5880.00", "4", "5", "3 × 0.80 + 2 × 1.25",
                                                 "4.90", "5884.90"]
    assert ["Total", "", "5880.00", "5", "5", "", "4.90", "5884.90"] in rows
    assert english(client_for(finance)).get(
        reverse("finance_statement_export", args=[statement.pk, "pdf"])).status_code == 404


def test_xlsx_export(tenant_a, march, finance):
    statement = st.draw_up(tenant_a, MARCH)
    response = english(client_for(finance)).get(
        reverse("finance_statement_export", args=[statement.pk, "xlsx"]))
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.title == "2026-03"
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = next(i for i, r in enumerate(rows) if r[0] == "Store")
    one = rows[header + 1]
    assert one[0] == "Alpha One"
    assert Decimal(str(one[2])) == Decimal("5880.00") and one[3] == 4 and one[4] == 5
    assert Decimal(str(one[6])) == Decimal("4.90") and Decimal(str(one[7])) == Decimal("5884.90")
    assert rows[-1][0] == "Total" and Decimal(str(rows[-1][7])) == Decimal("5884.90")
    assert sheet.cell(row=header + 2, column=8).number_format == "#,##0.00"


def test_statement_page_has_a_print_stylesheet_and_day_drill_down(tenant_a, march, finance):
    statement = st.draw_up(tenant_a, MARCH)
    page = english(client_for(finance)).get(
        reverse("finance_statement", args=[statement.pk])).content.decode()
    assert "2026-03-05" in page and "2026-03-10" in page and "2026-03-31" in page
    assert "<td>2026-04-01</td>" not in page and "<td>2026-03-05</td>" in page
    assert 'class="no-print"' in page
    css = (Path(settings.BASE_DIR) / "static" / "css" / "app.css").read_text()
    assert "@media print" in css and ".no-print" in css



def test_job_drill_down_sums_each_jobs_charges_including_regenerations(
        tenant_a, owner_a, small_pack, clock):
    """2 included calls a day: job 1 is charged 2 included + 1 overage (its second item
    twice: a regeneration), job 2 one overage call; a job with nothing charged is absent."""
    from generation.models import GenerationItem, GenerationJob
    from tests.generation.conftest import make_product

    clock.set(datetime(2026, 3, 5, 9, tzinfo=SHANGHAI))
    store = make_store(tenant_a, owner_a, "Alpha One")
    services.subscribe_store(store, small_pack, by=None, starts_on=date(2026, 3, 1))

    def job_with_items(count: int) -> tuple[GenerationJob, list[GenerationItem]]:
        job = GenerationJob.unscoped.create(tenant=tenant_a, store=store, created_by=owner_a)
        return job, [GenerationItem.unscoped.create(
            tenant=tenant_a, job=job, store=store, product=make_product(store), kind="title",
            language="en") for _ in range(count)]

    first, (one, two) = job_with_items(2)
    second, (three,) = job_with_items(1)
    idle, _ = job_with_items(1)
    keys = [one.quota_key, two.quota_key]
    two.generation = 2
    keys += [two.quota_key, three.quota_key]
    for key in keys:
        quota.reserve_call(store, key)
        quota.settle_call(key)
    statement = st.draw_up(tenant_a, MARCH)

    rows = {row["job"].pk: row for row in st.jobs_of(statement)}
    assert set(rows) == {first.pk, second.pk}
    assert (rows[first.pk]["included"], rows[first.pk]["overage"]) == (2, 1)
    assert rows[first.pk]["amount"] == Decimal("0.80")
    assert (rows[second.pk]["included"], rows[second.pk]["overage"]) == (0, 1)
    assert rows[second.pk]["amount"] == Decimal("0.80")
    assert rows[first.pk]["job"].store == store

# Console lists and reconciliation ----------------------------------------------------------

def test_finance_usage_lists_and_draws_up(tenant_a, march, finance):
    client = english(client_for(finance))
    response = client.post(reverse("finance_draw_up"), {"month": "2026-03"})
    assert response.status_code == 302
    statement = UsageStatement.unscoped.get(tenant=tenant_a, period=MARCH)
    page = client.get(reverse("finance_usage"), {"month": "2026-03"}).content.decode()
    assert tenant_a.name in page and "5,884.90" in page and "Draft" in page
    assert "1 draft statement drawn up for 2026-03;" in page  # drafts, not tenants; singular
    support = create_staff(StaffRole.SUPPORT)
    assert client_for(support).get(reverse("finance_usage")).status_code == 403
    assert client_for(support).post(reverse("finance_draw_up"),
                                    {"month": "2026-03"}).status_code == 403
    assert UsageStatement.unscoped.filter(tenant=tenant_a, period=MARCH).count() == 1
    statement.refresh_from_db()
    assert statement.status == Status.DRAFT


def test_reconciliation_page_shows_differences(tenant_a, march, finance):
    st.draw_up(tenant_a, MARCH)
    from billing.stripe_sync import meter_identifier

    events = list(UsageEvent.unscoped.filter(tenant=tenant_a, kind="overage",
                                             day__lt=date(2026, 4, 1)).order_by("pk"))
    ok, wrong = events[0], events[1]
    UsageEvent.unscoped.filter(pk=ok.pk).update(reported_to_stripe_at=ok.created_at,
                                                stripe_meter_event_id=meter_identifier(ok))
    UsageEvent.unscoped.filter(pk=wrong.pk).update(reported_to_stripe_at=wrong.created_at,
                                                   stripe_meter_event_id="usage-bogus")
    StripeInvoice.unscoped.create(
        tenant=tenant_a, stripe_invoice_id="in_march", total=Decimal("5880.00"),
        period_start=datetime(2026, 3, 1, tzinfo=SHANGHAI),
        period_end=datetime(2026, 3, 31, tzinfo=SHANGHAI))
    page = english(client_for(finance)).get(
        reverse("finance_reconciliation"),
        {"tenant": tenant_a.slug, "month": "2026-03"}).content.decode()
    assert "5 differences found" in page  # 3 unreported, 1 mismatched, the invoices
    assert 'class="difference"' in page
    assert "Alpha One" in page and "2026-03-05" in page
    assert all(event.item_key not in page for event in events)  # no internal keys
    assert "Stripe acknowledged it under another identifier: usage-bogus" in page
    assert page.count("Not yet acknowledged by Stripe") == 3
    assert "in_march" in page and "4.90" in page  # statement 5884.90 − invoiced 5880.00
    for event in events:
        UsageEvent.unscoped.filter(pk=event.pk).update(
            reported_to_stripe_at=event.created_at, stripe_meter_event_id=meter_identifier(event))
    StripeInvoice.unscoped.filter(stripe_invoice_id="in_march").update(total=Decimal("5884.90"))
    page = english(client_for(finance)).get(
        reverse("finance_reconciliation"),
        {"tenant": tenant_a.slug, "month": "2026-03"}).content.decode()
    assert "Balanced" in page and 'class="difference"' not in page
