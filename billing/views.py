"""Usage for sellers and for finance. The quota and invoice work fills these pages in."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.access import member_required, staff_required
from tenants.roles import StaffPermission


@member_required()
def usage(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/usage.html")


@staff_required(StaffPermission.VIEW_FINANCE)
def finance_usage(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/finance_usage.html")


@staff_required(StaffPermission.VIEW_FINANCE)
def finance_invoices(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/finance_invoices.html")
