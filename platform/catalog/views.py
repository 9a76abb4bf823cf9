"""Seller portal: the catalog page, sync now, and the progress of a running sync."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from catalog import selectors, services
from catalog.models import QualityFlag
from catalog.quality import QUALITY_FLAG_HELP
from portal.error_codes import describe
from portal.paging import query_without_page
from tenants.access import member_can, member_required
from tenants.roles import TenantPermission

PRODUCTS_PER_PAGE = 50


@member_required()
def product_list(request: HttpRequest) -> HttpResponse:
    filters = selectors.ProductFilters.from_params(request.GET)
    page = Paginator(selectors.products(filters), PRODUCTS_PER_PAGE).get_page(
        request.GET.get("page"))
    stores = list(selectors.stores())
    latest = selectors.latest_runs_by_store()
    return render(request, "catalog/product_list.html", {
        "page": page,
        "filters": filters,
        "query": query_without_page(request),
        "stores": stores,
        "store_runs": [(store, latest.get(store.pk)) for store in stores],
        "categories": selectors.categories(filters.store_id),
        "quality_flags": QualityFlag.choices,
        "quality_flag_help": [(flag.value, flag.label, QUALITY_FLAG_HELP[flag])
                              for flag in QualityFlag],
        "sku_limit_error": describe(services.SKU_LIMIT_CODE),
        "can_sync": member_can(request, TenantPermission.START_WORK),
    })


@require_POST
@member_required(TenantPermission.START_WORK)
def sync_now(request: HttpRequest, store_id: int) -> HttpResponse:
    store = get_object_or_404(selectors.stores(), pk=store_id)
    try:
        requested = services.request_sync(store, by=request.user)
    except services.SyncNotPossible as error:
        messages.error(request, str(error))
    else:
        if requested.started:
            messages.success(request, _("Sync of %(store)s started.") % {"store": store})
        else:
            messages.info(request, _("A sync of %(store)s is already under way.")
                          % {"store": store})
    return redirect(_next_url(request))


@require_GET
@member_required()
def sync_run_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The run's panel alone, which htmx fetches every 1.5 s while the run is active; once it
    has finished, htmx is told to reload the page to show the result. A request not from htmx
    goes to the store's products."""
    run = get_object_or_404(selectors.sync_runs(), pk=pk)
    if not request.htmx:
        response: HttpResponse = redirect(f"{reverse('catalog')}?store={run.store_id}")
    elif not run.is_active:
        response = HttpResponseClientRefresh()
    else:
        response = render(request, "catalog/_sync_run.html", {"run": run})
    patch_vary_headers(response, ("HX-Request",))
    return response


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    # A path of this site only (redirect() would take anything else for a URL name).
    if target.startswith("/") and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("catalog")
