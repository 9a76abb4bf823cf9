"""Every amount of money a person reads shows exactly two decimals: each page and export that
shows money, in both languages, after a job that went into overage."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from billing import quota, statements
from billing import services as billing
from billing.models import DailyUsage, StripeInvoice, UsageEvent
from tenants.roles import StaffRole
from tests.conftest import client_for, create_staff, english_client
from tests.generation.conftest import (  # noqa: F401  (fixtures)
    _fresh_node_state,
    make_product,
    make_store,
    nodes,
    run_job,
    small_pack,
)
from tests.generation.test_pipeline import start

pytestmark = pytest.mark.django_db

# A number with a decimal part (thousands grouped or not), unless it is a percentage.
DECIMAL_NUMBER = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})*(?:\.(\d+))(?![\d.]*\s*%)(?![\d.])")
TAG = re.compile(r"<script.*?</script>|<style.*?</style>|<[^>]+>", re.S)


def decimals_that_are_not_two(text: str) -> list[str]:
    return [match.group(0) for match in DECIMAL_NUMBER.finditer(text) if len(match.group(1)) != 2]


def page_text(response) -> str:
    assert response.status_code == 200, response.status_code
    return TAG.sub(" ", response.content.decode())


def test_the_scanner_finds_amounts_with_other_decimals():
    assert decimals_that_are_not_two("CNY 40.0000000000000 and 2,880.5 and 0.000512") == [
        "40.0000000000000", "2,880.5", "0.000512"]
    assert decimals_that_are_not_two("CNY 1,234.50 · 12.5% · 3 calls · 99.3 %") == []


def move_to_last_month(tenant) -> date:
    """The usage of today, as if it had happened a month ago (a closed, billable month)."""
    shift = timedelta(days=31)
    with connection.cursor() as cursor:  # the ledger refuses updates through the ORM
        cursor.execute(f"UPDATE {UsageEvent._meta.db_table} SET day = day - 31, "
                       f"created_at = created_at - interval '31 days' WHERE tenant_id = %s",
                       [tenant.pk])
    DailyUsage.unscoped.filter(tenant=tenant).update(day=F("day") - shift)
    return (quota.local_day(tenant) - shift).replace(day=1)


@pytest.fixture
def month_with_overage(tenant_a, owner_a, small_pack, nodes, model_sandbox):  # noqa: F811
    """Two included calls a day: a job of five SKUs bills three calls of overage; its month
    is over, and its statement issued."""
    store = make_store(tenant_a, owner_a)
    billing.subscribe_store(store, small_pack, by=None)
    job = run_job(start(store, owner_a, [make_product(store) for _ in range(5)]))
    assert job.items_succeeded == 5
    period = move_to_last_month(tenant_a)
    statement = statements.draw_up(tenant_a, period)
    assert statement.overage_amount == Decimal("2.40")
    preparer, approver = create_staff(StaffRole.FINANCE), create_staff(StaffRole.FINANCE)
    statements.change_status(statement, "submit", by=preparer)
    for step in ("approve", "issue"):
        statement = statements.change_status(statement, step, by=approver)
    start_of_period = timezone.make_aware(datetime.combine(period, time(12)))
    StripeInvoice.unscoped.create(
        tenant=tenant_a, stripe_invoice_id="in_money_test", status=StripeInvoice.Status.OPEN,
        total=Decimal("2882.4"), amount_due=Decimal("2882.4"), amount_paid=Decimal("0"),
        period_start=start_of_period, period_end=start_of_period + timedelta(days=27),
        stripe_updated_at=timezone.now())
    return store, job, statement


SELLER_PAGES = ["usage", "statements", "statement", "job_new"]
FINANCE_PAGES = ["finance_usage", "finance_invoices", "finance_statement",
                 "finance_reconciliation"]
STAFF_PAGES = ["console_model_cost", "console_request_log", "console_nodes"]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_page_that_shows_money_shows_two_decimals(month_with_overage, tenant_a, owner_a,
                                                       language):
    store, job, statement = month_with_overage
    seller = client_for(owner_a, tenant_a) if language == "zh-hans" else \
        english_client(owner_a, tenant_a)
    finance = create_staff(StaffRole.FINANCE)
    admin = create_staff(StaffRole.PLATFORM_ADMIN)
    finance_client = client_for(finance) if language == "zh-hans" else english_client(finance)
    admin_client = client_for(admin) if language == "zh-hans" else english_client(admin)
    month = f"{statement.period:%Y-%m}"
    pages = {
        "usage": seller.get(reverse("usage"), {"month": month}),
        "statements": seller.get(reverse("statements")),
        "statement": seller.get(reverse("statement", args=[statement.pk])),
        "job_new": seller.post(reverse("job_new"), {"store": store.pk, "kinds": "title",
                                                     "languages": "en", "action": "preview"}),
        "finance_usage": finance_client.get(reverse("finance_usage"), {"month": month}),
        "finance_invoices": finance_client.get(reverse("finance_invoices")),
        "finance_statement": finance_client.get(reverse("finance_statement",
                                                        args=[statement.pk])),
        "finance_reconciliation": finance_client.get(reverse("finance_reconciliation"),
                                                     {"tenant": tenant_a.pk, "month": month}),
        "console_model_cost": admin_client.get(reverse("console_model_cost")),
        "console_request_log": admin_client.get(reverse("console_request_log")),
        "console_nodes": admin_client.get(reverse("console_nodes")),
    }
    assert set(pages) == {*SELLER_PAGES, *FINANCE_PAGES, *STAFF_PAGES}
    texts = {name: page_text(response) for name, response in pages.items()}
    wrong = {name: found for name, text in texts.items()
             if (found := decimals_that_are_not_two(text))}
    assert wrong == {}
    # The amounts are there to be checked, grouped by thousands.
    assert "2.40" in texts["statement"] and "2.40" in texts["finance_statement"]
    assert "2,882.40" in texts["finance_invoices"]
    assert "0.80" in texts["usage"]


def test_statement_exports_keep_two_decimals(month_with_overage, tenant_a, owner_a):
    _store, _job, statement = month_with_overage
    seller = english_client(owner_a, tenant_a)
    exported = seller.get(reverse("statement_export", args=[statement.pk, "csv"]))
    assert exported.status_code == 200
    cells = [cell for row in csv.reader(io.StringIO(exported.content.decode("utf-8-sig")))
             for cell in row]
    assert decimals_that_are_not_two(" ".join(cells)) == []
    assert "2.40" in cells

    book = load_workbook(io.BytesIO(seller.get(
        reverse("statement_export", args=[statement.pk, "xlsx"])).content))
    amounts = [cell for row in book.active.iter_rows() for cell in row
               if isinstance(cell.value, Decimal | float | int) and cell.number_format != "General"]
    assert amounts, "the money cells carry a number format"
    assert {cell.number_format for cell in amounts} == {"#,##0.00"}
    assert Decimal("2.40") in {Decimal(str(cell.value)) for cell in amounts}
