"""Usage for sellers and for finance."""

from __future__ import annotations

import re
from datetime import date

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from billing import quota, services
from billing import statements as statements_service
from billing.forms import OverageCapForm, PaymentForm
from billing.models import StoreSubscription, StripeInvoice, UsageStatement
from kernel.money import format_cny
from stores.models import Store
from stores.selectors import listed_stores
from tenants.access import member_can, member_required, staff_can, staff_required
from tenants.models import Tenant
from tenants.roles import StaffPermission, TenantPermission

# Setting the overage cap is a money decision: owners only (like the company's details).
SET_CAP = TenantPermission.MANAGE_COMPANY
MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _parse_month(text: str) -> date | None:
    """The first day of a "YYYY-MM" month, or None when `text` is not one."""
    match = MONTH.match(text)
    if match and 1 <= int(match[2]) <= 12 and 2000 <= int(match[1]) <= 2100:
        return date(int(match[1]), int(match[2]), 1)
    return None


def _month_of(request: HttpRequest, today: date) -> date:
    return _parse_month(request.GET.get("month", "")) or today.replace(day=1)


def _shift_month(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@member_required()
def usage(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    today = quota.local_day(tenant)
    month = _month_of(request, today)
    stores = list(listed_stores().select_related("tenant"))  # today's cards: no archived store
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
        # New stores without any subscription: the owner may start the trial pack's trial.
        "trial_stores": list(services.stores_waiting_for_a_pack(tenant).order_by(
            "display_name", "pk")) if can_set_cap else [],
        "trial_days": settings.BILLING_TRIAL_DAYS,
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


@require_POST
@member_required(SET_CAP)
def start_trial(request: HttpRequest) -> HttpResponse:
    """The owner starts the trial pack's trial for a new store, once per store."""
    store = get_object_or_404(Store.objects.all(), pk=request.POST.get("store") or 0) \
        if (request.POST.get("store") or "").isdigit() else None
    if store is None:
        messages.error(request, _("Choose a store."))
        return redirect("usage")
    try:
        subscription = services.start_trial(store, by=request.user)
    except services.BillingError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The trial of %(store)s runs until %(end)s.")
                         % {"store": store.display_name,
                            "end": f"{subscription.ends_on:%Y-%m-%d}"})
    return redirect("usage")


# Statements: sellers ----------------------------------------------------------------------

def _seller_statement(pk: int) -> UsageStatement:
    """The tenant's own statement, and only once finance has issued it (else 404)."""
    return get_object_or_404(UsageStatement.objects.filter(
        status__in=UsageStatement.VISIBLE_TO_SELLERS), pk=pk)


@member_required()
def statements(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/statements.html", {
        "statements": UsageStatement.objects.filter(
            status__in=UsageStatement.VISIBLE_TO_SELLERS).order_by("-period", "sequence"),
        "invoices": StripeInvoice.objects.order_by("-period_start", "-id"),
    })


@member_required()
def statement(request: HttpRequest, pk: int) -> HttpResponse:
    found = _seller_statement(pk)
    view = statements_service.statement_view(found)
    view.adjustments = [s for s in view.adjustments
                        if s.status in UsageStatement.VISIBLE_TO_SELLERS]
    return render(request, "billing/statement.html", {
        "statement": found, "view": view, "console": False,
    })


@member_required()
def statement_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    return _export(_seller_statement(pk), fmt)


def _export(found: UsageStatement, fmt: str) -> HttpResponse:
    name = f"statement-{found.tenant.slug}-{found.number}"
    if fmt == "csv":
        response = HttpResponse(statements_service.export_csv(found),
                                content_type="text/csv; charset=utf-8")
    elif fmt == "xlsx":
        response = HttpResponse(
            statements_service.export_xlsx(found),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    else:
        raise Http404
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


# Statements: the finance console -----------------------------------------------------------

@staff_required(StaffPermission.VIEW_FINANCE)
def finance_usage(request: HttpRequest) -> HttpResponse:
    """The month's statements of every tenant, and drawing up the drafts."""
    today = timezone.localdate()
    month = _month_of(request, today)
    rows = (UsageStatement.unscoped.filter(period=month).select_related("tenant", "adjusts")
            .order_by("tenant__name", "sequence"))
    status = request.GET.get("status", "")
    if status in UsageStatement.Status.values:
        rows = rows.filter(status=status)
    rows = list(rows)
    for row in rows:
        row.provisional = statements_service.is_provisional(row)
    return render(request, "billing/finance_usage.html", {
        "month": month, "previous_month": _shift_month(month, -1),
        "next_month": _shift_month(month, 1), "statements": rows, "status": status,
        "statuses": UsageStatement.Status.choices,
        "can_manage": staff_can(request, StaffPermission.MANAGE_FINANCE),
        "waiting_stores": services.stores_waiting_for_a_pack().count(),
    })


@staff_required(StaffPermission.VIEW_FINANCE)
def finance_waiting_stores(request: HttpRequest) -> HttpResponse:
    """New stores that have never had a subscription: ISV sales offer them a pack."""
    return render(request, "billing/finance_waiting_stores.html", {
        "stores": services.stores_waiting_for_a_pack().select_related("tenant")[:500],
    })


@require_POST
@staff_required(StaffPermission.MANAGE_FINANCE)
def finance_draw_up(request: HttpRequest) -> HttpResponse:
    month = _posted_month(request)
    count = statements_service.draw_up_month(month, by=request.user)
    messages.success(request, ngettext(
        "%(count)s draft statement drawn up for %(month)s; statements past draft were left "
        "as they are.",
        "%(count)s draft statements drawn up for %(month)s; statements past draft were left "
        "as they are.", count) % {"count": count, "month": f"{month:%Y-%m}"})
    return redirect(f"{reverse('finance_usage')}?month={month:%Y-%m}")


def _posted_month(request: HttpRequest) -> date:
    month = _parse_month(request.POST.get("month", ""))
    if month is None:
        raise Http404
    return month


@staff_required(StaffPermission.VIEW_FINANCE)
def finance_statement(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(UsageStatement.unscoped.select_related("tenant"), pk=pk)
    can_pay = (staff_can(request, StaffPermission.MANAGE_FINANCE)
               and found.status in (UsageStatement.Status.ISSUED,
                                    UsageStatement.Status.PARTIALLY_PAID))
    return render(request, "billing/statement.html", {
        "statement": found, "view": statements_service.statement_view(found),
        "events": found.events.select_related("actor"), "console": True,
        "transitions": statements_service.allowed_transitions(found, request.user),
        "payment_form": PaymentForm(initial={
            "amount": found.outstanding, "paid_on": quota.local_day(found.tenant),
            "method": "bank_transfer"}) if can_pay else None,
    })


@require_POST
@staff_required(StaffPermission.MANAGE_FINANCE)
def finance_statement_pay(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(UsageStatement.unscoped, pk=pk)
    form = PaymentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The payment was not recorded: %(errors)s")
                       % {"errors": " ".join(e for errs in form.errors.values() for e in errs)})
        return redirect("finance_statement", pk=found.pk)
    try:
        payment = statements_service.record_payment(found, by=request.user, **form.cleaned_data)
    except statements_service.StatementError as error:
        messages.error(request, str(error))
    else:
        if payment.statement.status == UsageStatement.Status.PAID:
            messages.success(request, _("Payment recorded: the statement is paid."))
        else:
            messages.success(request, _("Partial payment recorded: CNY %(outstanding)s is still "
                                        "outstanding.")
                             % {"outstanding": format_cny(payment.statement.outstanding)})
    return redirect("finance_statement", pk=found.pk)


@require_POST
@staff_required(StaffPermission.VIEW_FINANCE)
def finance_statement_status(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(UsageStatement.unscoped, pk=pk)
    try:
        statements_service.change_status(found, request.POST.get("action", ""),
                                         by=request.user,
                                         comment=request.POST.get("comment", ""))
    except statements_service.StatementError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Statement updated."))
    return redirect("finance_statement", pk=found.pk)


@require_POST
@staff_required(StaffPermission.VIEW_FINANCE)
def finance_statement_comment(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(UsageStatement.unscoped, pk=pk)
    try:
        statements_service.add_comment(found, request.POST.get("comment", ""), by=request.user)
    except statements_service.StatementError as error:
        messages.error(request, str(error))
    return redirect("finance_statement", pk=found.pk)


@staff_required(StaffPermission.VIEW_FINANCE)
def finance_statement_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    return _export(get_object_or_404(UsageStatement.unscoped.select_related("tenant"), pk=pk),
                   fmt)


@staff_required(StaffPermission.VIEW_FINANCE)
def finance_invoices(request: HttpRequest) -> HttpResponse:
    """What Stripe invoiced, every tenant, newest first."""
    return render(request, "billing/finance_invoices.html", {
        "invoices": StripeInvoice.unscoped.select_related("tenant")
        .order_by("-period_start", "-id")[:500],
    })


@staff_required(StaffPermission.VIEW_FINANCE)
def finance_reconciliation(request: HttpRequest) -> HttpResponse:
    """One tenant and month: our ledger against what Stripe acknowledged and invoiced."""
    month = _month_of(request, timezone.localdate())
    tenants = Tenant.objects.order_by("name")
    tenant = tenants.filter(slug=request.GET.get("tenant", "")).first()
    context = {"tenants": tenants, "tenant": tenant, "month": month,
               "previous_month": _shift_month(month, -1), "next_month": _shift_month(month, 1)}
    if tenant is not None:
        context["view"] = statements_service.reconciliation_of(tenant, month)
    return render(request, "billing/finance_reconciliation.html", context)
