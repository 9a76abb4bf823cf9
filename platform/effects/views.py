"""Seller portal pages about the effect of AI content: the overview per store, content kind and
instruction version; a store's effect dashboard; one listing's chart and verdict."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from effects import experiments, selectors, services
from effects.forms import NewExperimentForm
from effects.models import EffectListing, Experiment, ListingVerdict
from generation.content import ContentKind
from portal.error_codes import describe
from portal.paging import query_without_page
from stores.models import Store
from tenants.access import member_can, member_required
from tenants.roles import TenantPermission

LISTINGS_PER_PAGE = 50


@member_required()
def overview(request: HttpRequest) -> HttpResponse:
    verdicts = ListingVerdict.objects.all()
    tenant = selectors.summarize(verdicts, "tenant")
    stores = {store.pk: store for store in Store.objects.all()}
    by_store = selectors.summarize(verdicts, "store")
    for summary in by_store:
        summary.label = str(stores.get(summary.key, summary.key))
    by_kind = selectors.summarize(verdicts, "content_kind")
    for summary in by_kind:
        summary.label = ContentKind(summary.key).label if summary.key in ContentKind.values \
            else str(summary.key)
    by_version = selectors.summarize(verdicts, "instruction_version")
    versions = selectors.instruction_version_labels([s.key for s in by_version])
    for summary in by_version:
        summary.label = versions.get(summary.key, "—")
    return render(request, "effects/overview.html", {
        "tenant_summary": tenant[0] if tenant else None, "by_store": by_store,
        "by_kind": by_kind, "by_version": by_version,
    })


@member_required()
def store_effects(request: HttpRequest, pk: int) -> HttpResponse:
    store = get_object_or_404(Store.objects, pk=pk)
    verdict = request.GET.get("verdict") or ""
    if verdict not in ListingVerdict.Verdict.values:
        verdict = ""
    page = Paginator(selectors.store_listings(store, verdict or None),
                     LISTINGS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "effects/store.html", {
        "store": store, "summary": selectors.store_summary(store),
        "counts": selectors.verdict_counts(store), "verdicts": ListingVerdict.Verdict.choices,
        "verdict": verdict, "page": page, "query": query_without_page(request),
        "not_authorized": None if services.performance_authorized(store)
        else describe(services.PERFORMANCE_NOT_AUTHORIZED),
    })


@member_required()
def listing_effect(request: HttpRequest, pk: int) -> HttpResponse:
    listing = get_object_or_404(EffectListing.objects.select_related("store", "product"), pk=pk)
    return render(request, "effects/listing.html", {"effect": selectors.listing_effect(listing),
                                                    "listing": listing})


@member_required()
def experiment_list(request: HttpRequest) -> HttpResponse:
    form = NewExperimentForm(request.POST or None)
    if request.method == "POST":
        if not member_can(request, TenantPermission.START_WORK):
            raise PermissionDenied
        if form.is_valid():
            values = form.cleaned_data
            products = selectors.eligible_products(values["store"], values["sku_count"])
            try:
                experiment = experiments.create_experiment(
                    store=values["store"], name=values["name"],
                    content_kind=values["content_kind"], version_a=values["version_a"],
                    version_b=values["version_b"], product_ids=products,
                    planned_days=values["planned_days"], by=request.user)
            except experiments.ExperimentError as error:
                form.add_error(None if error.field not in form.fields else error.field,
                               error.message)
            else:
                messages.success(request, _("The experiment is set up: its SKUs are in their "
                                            "arms for good."))
                return redirect("effects_experiment", pk=experiment.pk)
    return render(request, "effects/experiments.html", {
        "experiments": Experiment.objects.select_related("store").order_by("-created_at"),
        "form": form, "can_work": member_can(request, TenantPermission.START_WORK),
    })


@member_required()
def experiment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(
        Experiment.objects.select_related("store", "version_a__instruction_set",
                                          "version_b__instruction_set"), pk=pk)
    return render(request, "effects/experiment.html", {
        "experiment": experiment, "result": experiments.analyze(experiment)})
