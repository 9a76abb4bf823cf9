"""Seller portal: generation jobs (list, new job with its estimate, detail with live progress,
cancel, retry failed items) and the tenant's generation settings (brand voice, own banned
words)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from billing import quota
from catalog import selectors as catalog_selectors
from catalog.models import Product, QualityFlag
from generation import services
from generation.content import LANGUAGE_NAMES, ContentKind, as_plain_text
from generation.forms import BannedWordForm, BrandVoiceForm, JobForm
from generation.models import BrandVoice, GenerationItem, GenerationJob, TenantBannedWord
from portal.error_codes import describe
from portal.paging import int_param, query_without_page
from stores.models import Store
from tenants.access import member_can, member_required
from tenants.roles import TenantPermission

JOBS_PER_PAGE = 25
ITEMS_PER_PAGE = 50


# Job list ----------------------------------------------------------------------------------

@member_required()
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = GenerationJob.objects.select_related("store", "created_by")
    store_id = int_param(request.GET.get("store"))
    status = request.GET.get("status", "")
    if store_id:
        jobs = jobs.filter(store_id=store_id)
    if status in GenerationJob.Status.values:
        jobs = jobs.filter(status=status)
    else:
        status = ""
    page = Paginator(jobs.order_by("-created_at", "-id"), JOBS_PER_PAGE).get_page(
        request.GET.get("page"))
    return render(request, "generation/job_list.html", {
        "page": page,
        "rows": [(job, _kind_labels(job.kinds), _language_labels(job.languages))
                 for job in page.object_list],
        "stores": catalog_selectors.stores(),
        "store_id": store_id,
        "status": status,
        "statuses": GenerationJob.Status.choices,
        "query": query_without_page(request),
        "can_start": member_can(request, TenantPermission.START_WORK),
    })


def _kind_labels(kinds: list[str]) -> list[str]:
    labels = dict(ContentKind.choices)
    return [str(labels.get(kind, kind)) for kind in kinds]


def _language_labels(languages: list[str]) -> list[str]:
    return [str(LANGUAGE_NAMES.get(code, code)) for code in languages]


# New job -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoreOption:
    store: Store
    unusable_reason: str

    @property
    def usable(self) -> bool:
        return not self.unusable_reason


def _store_options(request: HttpRequest) -> list[StoreOption]:
    """The tenant's stores, each with why it cannot start a job today ("" if it can): one
    subscription lookup per store, not the whole of quota.usage_today."""
    day = quota.local_day(request.tenant)
    return [StoreOption(store, "" if quota.current_subscription(store, day)
                        else quota.why_not_usable(store, day))
            for store in catalog_selectors.stores()]


def _chosen_store(options: list[StoreOption], wanted: int | None) -> Store | None:
    for option in options:
        if option.store.pk == wanted:
            return option.store
    usable = [option.store for option in options if option.usable]
    return usable[0] if usable else (options[0].store if options else None)


def _estimate_context(form: JobForm) -> dict:
    """Validate the form and estimate the job; JobError becomes a form error."""
    if not form.is_valid():
        return {}
    try:
        estimate = services.estimate_job(form.chosen_store, form.selection(),
                                         form.cleaned_data["kinds"],
                                         form.cleaned_data["languages"])
    except services.JobError as error:
        _add_job_error(form, error)
        return {}
    return {"estimate": estimate,
            "input_problems": [(describe(code), count)
                               for code, count in sorted(estimate.input_problems.items())]}


def _add_job_error(form: JobForm, error: services.JobError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


def _job_form(request: HttpRequest, options: list[StoreOption]) -> JobForm:
    stores = [option.store for option in options]
    if request.method == "POST" and request.POST.get("step") != "choose":
        store = _chosen_store(options, int_param(request.POST.get("store")))
        return JobForm(request.POST, stores=stores, store=store)
    params = request.POST if request.method == "POST" else request.GET
    ids = [int(v) for v in params.getlist("product_ids") if v.isdigit()]
    wanted = int_param(params.get("store"))
    if wanted is None and ids:  # from the catalog: the store of the first SKU ticked
        wanted = Product.objects.filter(pk=ids[0]).values_list("store_id", flat=True).first()
    store = _chosen_store(options, wanted)
    if ids and store is not None:  # only the chosen store's SKUs
        ids = list(Product.objects.filter(store=store, pk__in=ids).order_by("pk")
                   .values_list("pk", flat=True))
    initial = {"q": params.get("q", ""), "category": params.get("category", ""),
               "flag": params.get("flag", "") if params.get("flag") in QualityFlag.values
               else "",
               "product_ids": ids}
    return JobForm(initial=initial, stores=stores, store=store)


@member_required()
def job_new(request: HttpRequest) -> HttpResponse:
    """GET (or a POST from the catalog's "Generate for selected"): the form. POST with
    action=preview: the form with the estimate; action=start: start the job."""
    return _job_new_page(request, request.POST.get("action", ""))


def _job_new_page(request: HttpRequest, action: str) -> HttpResponse:
    options = _store_options(request)
    form = _job_form(request, options)
    can_start = member_can(request, TenantPermission.START_WORK)
    context: dict = {}
    if form.is_bound:
        if action == "start" and not can_start:
            raise PermissionDenied
        context = _estimate_context(form)
        estimate = context.get("estimate")
        if action == "start" and estimate is not None:
            if not estimate.can_start:
                form.add_error(None, estimate.unusable_reason
                               or _("No SKUs match the selection."))
            else:
                try:
                    job = services.start_job(
                        store=form.chosen_store, selection=form.selection(),
                        kinds=form.cleaned_data["kinds"],
                        languages=form.cleaned_data["languages"],
                        compliance_mode=form.cleaned_data["compliance_mode"], by=request.user,
                        target_terms=form.cleaned_data["target_terms"])
                except services.JobError as error:
                    _add_job_error(form, error)
                else:
                    messages.success(request, _("Job #%(id)s started with %(items)s items.")
                                     % {"id": job.pk, "items": job.items_total})
                    return redirect("job_detail", pk=job.pk)
    store = form.chosen_store
    return render(request, "generation/job_new.html", {
        "form": form,
        "store_options": options,
        "store": store,
        "store_usable": any(o.usable and o.store == store for o in options),
        "categories": catalog_selectors.categories(store.pk) if store else [],
        "matching": _matching_count(form),
        "can_start": can_start,
        **context,
    })


def _matching_count(form: JobForm) -> int | None:
    ids = form.cleaned_data.get("product_ids") if form.is_bound and hasattr(
        form, "cleaned_data") else form.initial.get("product_ids")
    return len(ids) if ids else None


@require_POST
@member_required()
def job_estimate(request: HttpRequest) -> HttpResponse:
    """The estimate panel alone, refreshed by htmx on the new-job page when a choice changes.
    The estimate says itself why its store cannot start, so the other stores' reasons are not
    looked up. A request not from htmx gets the whole new-job page with the estimate."""
    if not request.htmx:
        return _job_new_page(request, "preview")  # never starts the job
    form = _job_form(request, [StoreOption(store, "") for store in catalog_selectors.stores()])
    context = _estimate_context(form)
    response = render(request, "generation/_estimate.html",
                      {"form": form, "partial": True, **context})
    patch_vary_headers(response, ("HX-Request",))
    return response


# Job detail --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ItemRow:
    item: GenerationItem
    text: str
    error: object | None


def _item_rows(items) -> list[ItemRow]:
    rows = []
    for item in items:
        text = as_plain_text(item.kind, item.content) if item.content else ""
        rows.append(ItemRow(item, text, describe(item.error_code) if item.error_code else None))
    return rows


@member_required()
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(GenerationJob.objects.select_related("store", "created_by",
                                                                 "cancelled_by"), pk=pk)
    items = (GenerationItem.objects.filter(job=job)
             .select_related("product", "node").order_by("id"))
    filters = {"status": request.GET.get("status", ""), "kind": request.GET.get("kind", ""),
               "language": request.GET.get("language", "")}
    if filters["status"] in GenerationItem.Status.values:
        items = items.filter(status=filters["status"])
    if filters["kind"] in ContentKind.values:
        items = items.filter(kind=filters["kind"])
    if filters["language"] in LANGUAGE_NAMES:
        items = items.filter(language=filters["language"])
    page = Paginator(items, ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    can_start = member_can(request, TenantPermission.START_WORK)
    retry_plan = (services.plan_retry(job)
                  if can_start and not job.is_active and job.items_failed else None)
    return render(request, "generation/job_detail.html", {
        "retry_plan": retry_plan,
        "job": job,
        "kinds": _kind_labels(job.kinds),
        "languages": _language_labels(job.languages),
        "page": page,
        "rows": _item_rows(page.object_list),
        "filters": filters,
        "item_statuses": GenerationItem.Status.choices,
        "kind_choices": [(k, label) for k, label in ContentKind.choices if k in job.kinds],
        "language_choices": [(c, LANGUAGE_NAMES.get(c, c)) for c in job.languages],
        "query": query_without_page(request),
        "can_start": can_start,
        "selection_ids": len(job.selection.get("product_ids", [])),
    })


@require_GET
@member_required()
def job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress panel alone, which htmx fetches every 2 s while the job is active; once
    the job has finished, htmx is told to reload the page (the item table and the buttons
    change too). A request not from htmx goes to the job's page."""
    job = get_object_or_404(GenerationJob.objects.all(), pk=pk)
    if not request.htmx:
        response: HttpResponse = redirect("job_detail", pk=job.pk)
    elif not job.is_active:
        response = HttpResponseClientRefresh()
    else:
        response = render(request, "generation/_job_progress.html", {"job": job})
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_POST
@member_required(TenantPermission.START_WORK)
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(GenerationJob.objects.all(), pk=pk)
    try:
        cancelled = services.cancel_job(job, by=request.user)
    except services.JobError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, ngettext(
            "Job #%(id)s cancelled: %(count)s item will not run.",
            "Job #%(id)s cancelled: %(count)s items will not run.", cancelled)
            % {"id": job.pk, "count": cancelled})
    if request.htmx:  # the form asked for confirmation through htmx: load the page anew
        return HttpResponseClientRedirect(reverse("job_detail", args=[job.pk]))
    return redirect("job_detail", pk=job.pk)


@require_POST
@member_required(TenantPermission.START_WORK)
def job_retry(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(GenerationJob.objects.all(), pk=pk)
    try:
        result = services.retry_failed_items(
            job, by=request.user, after_reset=request.POST.get("when") == "after_reset")
    except services.JobError as error:
        messages.error(request, error.message)
        return redirect("job_detail", pk=job.pk)
    values = {"count": result.started, "rest": result.over_quota,
              "time": _local_time(request, result.resets_at)}
    if result.started:
        messages.success(request, ngettext(
            "%(count)s failed item is being generated again.",
            "%(count)s failed items are being generated again.", result.started) % values)
    if result.scheduled_for:
        messages.info(request, ngettext(
            "%(rest)s failed item will be generated again after the quota resets at %(time)s.",
            "%(rest)s failed items will be generated again after the quota resets at %(time)s.",
            result.over_quota) % values)
    elif result.over_quota:
        messages.warning(request, ngettext(
            "%(rest)s failed item stays failed: today's quota cannot take it (it resets at "
            "%(time)s).",
            "%(rest)s failed items stay failed: today's quota cannot take them (it resets at "
            "%(time)s).", result.over_quota) % values)
    return redirect("job_detail", pk=job.pk)


def _local_time(request: HttpRequest, moment) -> str:
    """A moment in the tenant's time zone, with the zone's name."""
    tenant = request.tenant
    return f"{timezone.localtime(moment, tenant.zone):%Y-%m-%d %H:%M} ({tenant.time_zone})"


# Settings: brand voice and own banned words ------------------------------------------------

@member_required()
def generation_settings(request: HttpRequest) -> HttpResponse:
    can_edit = member_can(request, TenantPermission.START_WORK)
    voice = BrandVoice.objects.first() or BrandVoice()
    voice_form = BrandVoiceForm(instance=voice)
    word_form = BannedWordForm()
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if request.POST.get("action") == "voice":
            voice_form = BrandVoiceForm(request.POST, instance=voice)
            if voice_form.is_valid():
                saved = voice_form.save(commit=False)
                saved.updated_by = request.user
                saved.save()
                messages.success(request, _("Brand-voice notes saved."))
                return redirect("generation_settings")
        elif request.POST.get("action") == "word":
            word_form = BannedWordForm(request.POST)
            if word_form.is_valid():
                word = word_form.save(commit=False)
                word.created_by = request.user
                try:
                    with transaction.atomic():
                        word.save()
                except IntegrityError:
                    word_form.add_error("term", _("This word is already on your list."))
                else:
                    messages.success(request, _("\"%(term)s\" added to your banned words.")
                                     % {"term": word.term})
                    return redirect("generation_settings")
    return render(request, "generation/settings.html", {
        "voice": voice,
        "voice_form": voice_form,
        "word_form": word_form,
        "words": TenantBannedWord.objects.select_related("created_by"),
        "can_edit": can_edit,
    })


@require_POST
@member_required(TenantPermission.START_WORK)
def banned_word_delete(request: HttpRequest, pk: int) -> HttpResponse:
    word = get_object_or_404(TenantBannedWord.objects.all(), pk=pk)
    term = word.term
    word.delete()
    messages.success(request, _("\"%(term)s\" removed from your banned words.") % {"term": term})
    return redirect("generation_settings")
