"""Usage for sellers and for finance."""

from __future__ import annotations

import re
from datetime import date

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing import quota, services
from billing.forms import OverageCapForm
from billing.models import StoreSubscription
from stores.models import Store
from tenants.access import member_can, member_required, staff_required
from tenants.roles import StaffPermission, TenantPermission

# Setting the overage cap is a money decision: owners only (like the company's details).
SET_CAP = TenantPermission.MANAGE_COMPANY
MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _month_of(request: HttpRequest, today: date) -> date:
    match = MONTH.match(request.GET.get("month", ""))
    if match and 1 <= int(match[2]) <= 12 and 2000 <= int(match[1]) <= 2100:
        return date(int(match[1]), int(match[2]), 1)
    return today.replace(day=1)


def _shift_month(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@member_required()
def usage(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    today = quota.local_day(tenant)
    month = _month_of(request, today)
    stores = list(Store.objects.select_related("tenant"))
    can_set_cap = member_can(request, SET_CAP)
    return render(request, "billing/usage.html", {
        "today": today,
        "usage_today": [quota.usage_today(store) for store in stores],
        "month": quota.usage_for_month(tenant, month.year, month.month),
        "previous_month": _shift_month(month, -1),
        "next_month": _shift_month(month, 1) if month < today.replace(day=1) else None,
        "subscriptions": StoreSubscription.objects.select_related("store", "pack_version__pack")
        .order_by("store__display_name", "-starts_on"),
        "can_set_cap": can_set_cap,
        "cap_form": OverageCapForm() if can_set_cap else None,
    })


@require_POST
@member_required(SET_CAP)
def overage_cap(request: HttpRequest) -> HttpResponse:
    form = OverageCapForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The overage cap was not changed: %(errors)s")
                       % {"errors": " ".join(e for errs in form.errors.values() for e in errs)})
        return redirect("usage")
    store, cap = form.cleaned_data["store"], form.cleaned_data["daily_overage_cap"]
    try:
        services.set_daily_overage_cap(store, cap, by=request.user)
    except services.BillingError as error:
        messages.error(request, str(error))
    else:
        if cap is None:
            message = _("Store %(store)s now has no cap on overage calls.")
        else:
            message = _("Store %(store)s may now use at most %(cap)s overage calls a day.")
        messages.success(request, message % {"store": store.display_name, "cap": cap})
    return redirect("usage")


@staff_required(StaffPermission.VIEW_FINANCE)
def finance_usage(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/finance_usage.html")


@staff_required(StaffPermission.VIEW_FINANCE)
def finance_invoices(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/finance_invoices.html")
