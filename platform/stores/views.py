"""Seller portal pages about stores: the list, adding one, its detail, re-authorizing, revoking."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from stores import selectors, services
from stores.forms import AddStoreForm, ReauthorizeForm
from stores.models import Store
from tenants.access import member_can, member_required
from tenants.roles import TenantPermission

START_WORK = TenantPermission.START_WORK


def _form_error(form, error: services.StoreError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


@member_required()
def store_list(request: HttpRequest) -> HttpResponse:
    show_archived = request.GET.get("archived") == "1"
    overviews = selectors.store_overviews(archived=show_archived)
    return render(request, "stores/store_list.html", {
        "overviews": overviews,
        "show_archived": show_archived,
        "archived_count": 0 if show_archived else selectors.archived_stores().count(),
        "attention": [] if show_archived else [o for o in overviews if o.needs_action],
        "can_work": member_can(request, START_WORK),
        "egress_ips": selectors.egress_ips(),
        "daily_budget": settings.MARKETPLACE_DAILY_REQUEST_BUDGET,
        "stale_hours": settings.STORE_STALE_AFTER_HOURS,
    })


@member_required(START_WORK)
def store_add(request: HttpRequest) -> HttpResponse:
    form = AddStoreForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            store = services.add_store(tenant=request.tenant, by=request.user,
                                       **form.cleaned_data)
        except services.StoreError as error:
            if error.code == "wrong_site":  # offer the site the marketplace named
                data = request.POST.copy()
                data["site_code"] = error.details["site_code"]
                form = AddStoreForm(data)
                form.is_valid()
            _form_error(form, error)
        else:
            messages.success(request, _("%(store)s is connected. Sync its catalog next.")
                             % {"store": store})
            return redirect("store_detail", pk=store.pk)
    return render(request, "stores/store_add.html", {
        "form": form, "egress_ips": selectors.egress_ips(),
    })


def _detail(request: HttpRequest, store: Store, reauthorize_form: ReauthorizeForm | None = None
            ) -> HttpResponse:
    overview = selectors.overview(store)
    return render(request, "stores/store_detail.html", {
        "store": store,
        "overview": overview,
        "attention": [overview] if overview.needs_action else [],
        "daily_budget": settings.MARKETPLACE_DAILY_REQUEST_BUDGET,
        "history": selectors.status_history(store),
        "reauthorize_form": reauthorize_form or ReauthorizeForm(),
        "can_work": member_can(request, START_WORK),
        "can_archive": member_can(request, TenantPermission.MANAGE_COMPANY),
        "egress_ips": selectors.egress_ips(),
    })


@member_required()
def store_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, get_object_or_404(Store, pk=pk))


@require_POST
@member_required(START_WORK)
def store_reauthorize(request: HttpRequest, pk: int) -> HttpResponse:
    store = get_object_or_404(Store, pk=pk)
    form = ReauthorizeForm(request.POST)
    if form.is_valid():
        try:
            services.reauthorize_store(store, by=request.user, **form.cleaned_data)
        except services.StoreError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("%(store)s is re-authorized with a new token.")
                             % {"store": store})
            return redirect("store_detail", pk=store.pk)
    return _detail(request, store, form)


@require_POST
@member_required(START_WORK)
def store_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    store = get_object_or_404(Store, pk=pk)
    try:
        services.revoke_store(store, by=request.user)
    except services.StoreError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("%(store)s is disconnected and its token deleted. Cancel "
                                    "the authorization in the seller center too.")
                         % {"store": store})
    return redirect("store_detail", pk=store.pk)


@require_POST
@member_required(TenantPermission.MANAGE_COMPANY)
def store_archive(request: HttpRequest, pk: int) -> HttpResponse:
    store = get_object_or_404(Store, pk=pk)
    try:
        services.archive_store(store, by=request.user)
    except services.StoreError as error:
        messages.error(request, error.message)
        return redirect("store_detail", pk=store.pk)
    messages.success(request, _("%(store)s is archived: it no longer appears in lists and "
                                "selections; its billing history and audit trail are kept.")
                     % {"store": store})
    return redirect("stores")
