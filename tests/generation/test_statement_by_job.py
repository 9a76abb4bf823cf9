"""Finance's drill-down of a monthly statement by generation job: the ledger's rows are
keyed by generation item, and each item names its job."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from billing import quota, statements
from billing import services as billing
from tenants.roles import StaffRole
from tests.conftest import client_for, create_staff
from tests.generation.conftest import make_product, make_store, run_job
from tests.generation.test_pipeline import start

pytestmark = pytest.mark.django_db


def test_statement_lists_each_jobs_calls_and_overage(tenant_a, owner_a, small_pack, nodes,
                                                     model_sandbox):
    store = make_store(tenant_a, owner_a)
    billing.subscribe_store(store, small_pack, by=None)
    first = run_job(start(store, owner_a, [make_product(store)]))          # 1 included
    second = run_job(start(store, owner_a, [make_product(store) for _ in range(3)]))  # 1 + 2

    statement = statements.draw_up(tenant_a, quota.local_day(tenant_a).replace(day=1))
    rows = statements.jobs_of(statement)

    assert [(row["job"].pk, row["included"], row["overage"], row["amount"]) for row in rows] == [
        (first.pk, 1, 0, Decimal("0.00")), (second.pk, 1, 2, Decimal("1.60"))]
    finance = create_staff(StaffRole.FINANCE)
    page = client_for(finance).get(reverse("finance_statement", args=[statement.pk]))
    assert page.status_code == 200
    assert f"#{second.pk}" in page.content.decode() and "1.60" in page.content.decode()
