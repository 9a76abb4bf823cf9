"""ISV console: model nodes, instruction sets, banned words, the model-request log, job
diagnosis and model cost. Staff only; every tenant's data (hence the `unscoped` managers)."""

from __future__ import annotations

from datetime import UTC, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import Case, IntegerField, Q, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from effects import selectors as effect_selectors
from generation import compliance, diagnose, evaluation, gateway, instructions, nodes, reports
from generation.console_forms import (
    BannedWordForm,
    BulkBannedWordsForm,
    CheckTextForm,
    DraftForm,
    EvaluationRunForm,
    EvaluationSetForm,
    InstructionSetForm,
    LogFilterForm,
    ModelNodeForm,
    PeriodForm,
    SampleTestForm,
)
from generation.content import (
    KIND_HEADER,
    LANGUAGE_CHOICES,
    LANGUAGE_HEADER,
    PRODUCT_DATA_HEADER,
    VISION_KINDS,
    ContentKind,
)
from generation.models import (
    BannedWord,
    EvaluationRun,
    EvaluationSet,
    GenerationJob,
    InstructionSet,
    InstructionVersion,
    ModelNode,
)
from generation.pipeline import banned_terms
from generation.prechecks import main_image_url
from marketplaces.sites import MARKETPLACE_CHOICES
from portal.error_codes import describe
from portal.paging import query_without_page
from tenants.access import staff_can, staff_required
from tenants.models import Tenant
from tenants.roles import StaffPermission

VIEW = StaffPermission.VIEW_GENERATION
MANAGE = StaffPermission.MANAGE_GENERATION
PAGE_SIZE = 50
NODE_TEST_MESSAGES = [
    {"role": "system", "content": "You are a health check. Answer with one JSON object: "
                                  "{\"ok\": true}."},
    # Shaped like a real request (generation.instructions.build_messages), from its headers.
    {"role": "user", "content": f"{KIND_HEADER} title\n{LANGUAGE_HEADER} en (English)\n\n"
                                f"{PRODUCT_DATA_HEADER}\n{{\"title\":\"Health check\"}}"},
]


# Model nodes -------------------------------------------------------------------------------

@staff_required(VIEW)
def node_list(request: HttpRequest) -> HttpResponse:
    return render(request, "console/generation/node_list.html", {
        "health": nodes.node_health(), "can_manage": staff_can(request, MANAGE)})


@staff_required(MANAGE)
def node_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    node = get_object_or_404(ModelNode, pk=pk) if pk else None
    form = ModelNodeForm(request.POST or None, instance=node)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, _("Model node %(node)s saved.") % {"node": saved.name})
        return redirect("console_nodes")
    return render(request, "console/generation/node_form.html", {
        "form": form, "node": node, "has_key": bool(node and node.api_key)})


@require_POST
@staff_required(MANAGE)
def node_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    node = get_object_or_404(ModelNode, pk=pk)
    node.enabled = not node.enabled
    node.save(update_fields=["enabled", "updated_at"])
    messages.success(request, (_("%(node)s is enabled.") if node.enabled
                               else _("%(node)s is disabled.")) % {"node": node.name})
    return redirect("console_nodes")


@require_POST
@staff_required(MANAGE)
def node_reset(request: HttpRequest, pk: int) -> HttpResponse:
    node = get_object_or_404(ModelNode, pk=pk)
    nodes.reset_breaker(node)
    messages.success(request, _("%(node)s is back in rotation.") % {"node": node.name})
    return redirect("console_nodes")


@require_POST
@staff_required(MANAGE)
def node_test(request: HttpRequest, pk: int) -> HttpResponse:
    node = get_object_or_404(ModelNode, pk=pk)
    result = gateway.preview(node, NODE_TEST_MESSAGES, kind=None, vision=False)
    return render(request, "console/generation/node_test.html", {
        "node": node, "result": result,
        "error": describe(result.error_code) if result.error_code else None})


# Instruction sets --------------------------------------------------------------------------

@staff_required(VIEW)
def instruction_list(request: HttpRequest) -> HttpResponse:
    if not InstructionSet.objects.exists():  # first visit: load the shipped library
        instructions.ensure_default_library()
    marketplace, kind = request.GET.get("marketplace", ""), request.GET.get("kind", "")
    sets = InstructionSet.objects.all()
    if marketplace:
        sets = sets.filter(marketplace=marketplace)
    if kind:
        sets = sets.filter(kind=kind)
    published = {version.instruction_set_id: version for version in
                 InstructionVersion.objects.filter(status=InstructionVersion.Status.PUBLISHED,
                                                   instruction_set__in=sets)}
    drafts = set(InstructionVersion.objects.filter(
        status=InstructionVersion.Status.DRAFT, instruction_set__in=sets)
        .values_list("instruction_set_id", flat=True))
    rows = [{"set": s, "published": published.get(s.pk), "has_draft": s.pk in drafts}
            for s in sets]
    return render(request, "console/generation/instruction_list.html", {
        "rows": rows, "marketplaces": MARKETPLACE_CHOICES, "kinds": ContentKind.choices,
        "marketplace": marketplace, "kind": kind, "can_manage": staff_can(request, MANAGE)})


@staff_required(MANAGE)
def instruction_set_add(request: HttpRequest) -> HttpResponse:
    form = InstructionSetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        base = instructions.published_version(form.cleaned_data["kind"],
                                              form.cleaned_data["marketplace"])
        with transaction.atomic():
            created = form.save()
            if base is not None:
                instructions.create_draft(
                    created, text=base.text, strict_text=base.strict_text,
                    change_note=_("Started from the marketplace-wide version %(number)s.")
                    % {"number": base.number}, by=request.user)
        messages.success(request, _("Instruction set created; edit and publish its draft."))
        return redirect("console_instruction_set", pk=created.pk)
    return render(request, "console/generation/instruction_set_form.html", {"form": form})


def _instruction_set_page(request: HttpRequest, selected: InstructionSet,
                          draft_form: DraftForm | None = None, status: int = 200) -> HttpResponse:
    """The set with its versions; the new-draft form starts from the published version (or
    the newest) unless a posted form with errors is given."""
    versions = list(selected.versions.select_related("created_by", "published_by"))
    published = next((v for v in versions if v.status == InstructionVersion.Status.PUBLISHED),
                     None)
    if draft_form is None:
        source = published or (versions[0] if versions else None)
        draft_form = DraftForm(initial={"text": source.text if source else "",
                                        "strict_text": source.strict_text if source else ""})
    return render(request, "console/generation/instruction_set.html", {
        "set": selected, "versions": versions, "published": published,
        "draft_form": draft_form, "can_manage": staff_can(request, MANAGE)}, status=status)


@staff_required(VIEW)
def instruction_set(request: HttpRequest, pk: int) -> HttpResponse:
    return _instruction_set_page(request, get_object_or_404(InstructionSet, pk=pk))


@require_POST
@staff_required(MANAGE)
def instruction_draft(request: HttpRequest, pk: int) -> HttpResponse:
    selected = get_object_or_404(InstructionSet, pk=pk)
    form = DraftForm(request.POST)
    if not form.is_valid():
        return _instruction_set_page(request, selected, form, status=400)
    version = instructions.create_draft(selected, by=request.user, **form.cleaned_data)
    messages.success(request, _("Draft version %(number)s saved; test it, then publish it.")
                     % {"number": version.number})
    return redirect("console_instruction_version", pk=version.pk)


@staff_required(VIEW)
def instruction_version(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(InstructionVersion.objects.select_related("instruction_set"),
                                pk=pk)
    return render(request, "console/generation/instruction_version.html", {
        "version": version, "form": SampleTestForm(), "can_manage": staff_can(request, MANAGE),
        **_evaluation_context(version)})


def _evaluation_context(version: InstructionVersion) -> dict:
    """The version's last evaluation beside the published version's, and, once it has made
    items, what reviewers did with them."""
    published = version.status != InstructionVersion.Status.DRAFT
    return {"comparison": evaluation.compare_with_published(version),
            "outcomes": evaluation.version_outcomes(version) if published else None,
            # The effect loop's verdicts on its published texts (effects builds on generation:
            # read here, at the console's edge).
            "effect": effect_selectors.version_effect(version.pk) if published else None}


@require_POST
@staff_required(MANAGE)
def instruction_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Run the version on 1-5 sample SKUs through the first enabled node (or the one chosen):
    the answers, their compliance findings and token counts. Nothing is logged as usage."""
    version = get_object_or_404(InstructionVersion.objects.select_related("instruction_set"),
                                pk=pk)
    form = SampleTestForm(request.POST)
    results = []
    if form.is_valid():
        kind = version.instruction_set.kind
        marketplace = version.instruction_set.marketplace
        language = form.cleaned_data["language"]
        store = form.cleaned_data.get("store")
        terms = banned_terms(store.tenant_id if store else None, marketplace, language)
        vision = kind in VISION_KINDS
        for product in form.cleaned_data["samples"]:
            image = main_image_url(product) if vision else None
            built = instructions.build_messages(version, kind=kind, language=language,
                                                marketplace=marketplace, product=product,
                                                banned_terms=terms, image_url=image)
            result = gateway.preview(form.cleaned_data.get("node"), built, kind=kind,
                                     vision=vision)
            findings = (compliance.find_violations(kind, result.content,
                                                   marketplace=marketplace, banned_terms=terms)
                        if result.content else [])
            results.append({"product": product, "result": result, "findings": findings,
                            "error": describe(result.error_code) if result.error_code
                            else None})
    return render(request, "console/generation/instruction_version.html", {
        "version": version, "form": form, "results": results, "can_manage": True},
        status=200 if form.is_valid() else 400)


@require_POST
@staff_required(MANAGE)
def instruction_publish(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(InstructionVersion, pk=pk)
    try:
        instructions.publish(version, by=request.user)
    except evaluation.NeedsSecondApproval as worse:
        messages.warning(request, _(
            "Version %(number)s scored worse than the published version on: %(gates)s. "
            "Another person must publish it.") % {
                "number": version.number,
                "gates": ", ".join(str(GATE_LABELS.get(gate, gate)) for gate in worse.worse)})
        return redirect("console_instruction_version", pk=version.pk)
    messages.success(request, _("Version %(number)s is published; new items use it.")
                     % {"number": version.number})
    return redirect("console_instruction_set", pk=version.instruction_set_id)


@require_POST
@staff_required(MANAGE)
def instruction_retire(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(InstructionVersion, pk=pk)
    instructions.retire(version, by=request.user)
    messages.success(request, _("Version %(number)s is retired.") % {"number": version.number})
    return redirect("console_instruction_set", pk=version.instruction_set_id)


# Evaluation sets and runs (generation.evaluation) -----------------------------------------

GATE_LABELS = {"language": _lazy("Language"), "fact": _lazy("Facts"),
               "refusal": _lazy("Refusals and placeholders"),
               "limit": _lazy("Marketplace limits"), "banned_word": _lazy("Banned words")}


@staff_required(VIEW)
def evaluation_sets(request: HttpRequest) -> HttpResponse:
    return render(request, "console/generation/evaluation_sets.html", {
        "sets": EvaluationSet.objects.all(), "can_manage": staff_can(request, MANAGE)})


@staff_required(MANAGE)
def evaluation_set_add(request: HttpRequest) -> HttpResponse:
    form = EvaluationSetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        created = evaluation.create_set(name=form.cleaned_data["name"],
                                        description=form.cleaned_data["description"],
                                        cases=form.cleaned_data["cases"], by=request.user)
        messages.success(request, _("Evaluation set “%(name)s” saved.") % {"name": created.name})
        return redirect("console_evaluation_set", pk=created.pk)
    return render(request, "console/generation/evaluation_set_form.html", {"form": form},
                  status=400 if form.errors else 200)


@staff_required(VIEW)
def evaluation_set(request: HttpRequest, pk: int) -> HttpResponse:
    chosen = get_object_or_404(EvaluationSet, pk=pk)
    form = EvaluationRunForm(request.POST or None, cases=len(chosen.cases))
    status = 200
    if request.method == "POST":
        if not staff_can(request, MANAGE):
            raise PermissionDenied
        if form.is_valid():
            try:
                made = evaluation.run(form.cleaned_data["version"], chosen,
                                      languages=form.cleaned_data["languages"], by=request.user)
            except evaluation.EvaluationError as error:
                form.add_error(None, str(error))
            else:
                return redirect("console_evaluation_run", pk=made.pk)
        status = 400
    return render(request, "console/generation/evaluation_set.html", {
        "set": chosen, "form": form, "can_manage": staff_can(request, MANAGE),
        "runs": chosen.runs.select_related("version__instruction_set")}, status=status)


@staff_required(VIEW)
def evaluation_run(request: HttpRequest, pk: int) -> HttpResponse:
    made = get_object_or_404(EvaluationRun.objects.select_related(
        "version__instruction_set", "evaluation_set"), pk=pk)
    published = InstructionVersion.objects.filter(
        instruction_set_id=made.version.instruction_set_id,
        status=InstructionVersion.Status.PUBLISHED).exclude(pk=made.version_id).first()
    current = evaluation.latest_run(published, made.evaluation_set_id) if published else None
    comparison = evaluation.Comparison(
        made, current, evaluation.worse_gates(made.summary, current.summary) if current else [])
    return render(request, "console/generation/evaluation_run.html", {
        "run": made, "comparison": comparison, "published": published,
        "gate_labels": GATE_LABELS})


# Banned words ------------------------------------------------------------------------------

@staff_required(VIEW)
def banned_words(request: HttpRequest) -> HttpResponse:
    if not BannedWord.objects.exists():  # first visit (a deleted default stays deleted)
        instructions.ensure_default_banned_words()
    marketplace, language = request.GET.get("marketplace", ""), request.GET.get("language", "")
    query = request.GET.get("q", "").strip()
    words = BannedWord.objects.select_related("created_by")
    if marketplace:
        words = words.filter(Q(marketplace=marketplace) | Q(marketplace=""))
    if language:
        words = words.filter(Q(language=language) | Q(language=""))
    if query:
        words = words.filter(Q(term__icontains=query) | Q(reason__icontains=query))
    page = Paginator(words, 100).get_page(request.GET.get("page"))
    check_form = CheckTextForm(request.POST or None, prefix="check")
    found = None
    if request.method == "POST" and check_form.is_valid():
        data = check_form.cleaned_data
        terms = banned_terms(None, data["marketplace"], data["language"])
        found = compliance.find_banned_terms(data["text"], terms)
    return render(request, "console/generation/banned_words.html", {
        "page": page, "query": query_without_page(request), "marketplace": marketplace,
        "language": language, "q": query,
        "marketplaces": MARKETPLACE_CHOICES, "language_options": LANGUAGE_CHOICES,
        "add_form": BannedWordForm(), "bulk_form": BulkBannedWordsForm(prefix="bulk"),
        "check_form": check_form, "found": found, "can_manage": staff_can(request, MANAGE)})


@require_POST
@staff_required(MANAGE)
def banned_word_add(request: HttpRequest) -> HttpResponse:
    form = BannedWordForm(request.POST)
    if form.is_valid():
        word = form.save(commit=False)
        word.created_by = request.user
        try:
            with transaction.atomic():  # a savepoint: the request's transaction stays usable
                word.save()
        except IntegrityError:
            messages.error(request, _("That word is on the list already."))
        else:
            messages.success(request, _('"%(term)s" is on the list.') % {"term": word.term})
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("console_banned_words")


@require_POST
@staff_required(MANAGE)
def banned_word_bulk(request: HttpRequest) -> HttpResponse:
    form = BulkBannedWordsForm(request.POST, prefix="bulk")
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("console_banned_words")
    data = form.cleaned_data
    BannedWord.objects.bulk_create(
        [BannedWord(marketplace=data["marketplace"], language=data["language"], term=term,
                    reason=data["reason"], created_by=request.user) for term in data["terms"]],
        ignore_conflicts=True)
    listed = BannedWord.objects.filter(marketplace=data["marketplace"],
                                       language=data["language"],
                                       term__in=data["terms"]).count()
    messages.success(request, ngettext("%(count)s term is on the list.",
                                       "%(count)s terms are on the list.", listed)
                     % {"count": listed})
    return redirect("console_banned_words")


@require_POST
@staff_required(MANAGE)
def banned_word_delete(request: HttpRequest, pk: int) -> HttpResponse:
    word = get_object_or_404(BannedWord, pk=pk)
    word.delete()
    messages.success(request, _('"%(term)s" was removed from the list.') % {"term": word.term})
    return redirect("console_banned_words")


# Model-request log -------------------------------------------------------------------------

@staff_required(VIEW)
def request_log(request: HttpRequest) -> HttpResponse:
    form = LogFilterForm(request.GET)  # no filter at all is valid too: every request
    zone, logs = UTC, None
    if form.is_valid():
        data = form.cleaned_data
        zone = form.time_zone()
        wanted = reports.LogFilter(
            tenant_id=data["tenant"].pk if data.get("tenant") else None,
            store_id=data.get("store"), job_id=data.get("job"),
            node_id=data["node"].pk if data.get("node") else None,
            error_code=data.get("error_code", ""),
            start=form.bound("start"), end=form.bound("end"))
        logs = Paginator(reports.search_logs(wanted), PAGE_SIZE).get_page(
            request.GET.get("page"))
        for log in logs:
            log.error = describe(log.error_code) if log.error_code else None
    return render(request, "console/generation/request_log.html", {
        "form": form, "page": logs, "zone": zone, "query": query_without_page(request)})


# Jobs and diagnosis ------------------------------------------------------------------------

@staff_required(VIEW)
def job_list(request: HttpRequest) -> HttpResponse:
    status, tenant = request.GET.get("status", ""), request.GET.get("tenant", "")
    jobs = GenerationJob.unscoped.select_related("tenant", "store")
    if status:
        jobs = jobs.filter(status=status)
    if tenant.isdigit():
        jobs = jobs.filter(tenant_id=int(tenant))
    failed_first = Case(When(status__in=(GenerationJob.Status.FAILED,
                                         GenerationJob.Status.COMPLETED_WITH_ERRORS),
                             then=Value(0)), default=Value(1), output_field=IntegerField())
    jobs = jobs.order_by(failed_first, "-created_at", "-id")
    return render(request, "console/generation/job_list.html", {
        "page": Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page")),
        "query": query_without_page(request),
        "statuses": GenerationJob.Status.choices, "status": status, "tenant": tenant,
        "tenants": Tenant.objects.order_by("name")})


@staff_required(VIEW)
def job_diagnose(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(GenerationJob.unscoped.select_related("tenant", "store"), pk=pk)
    return render(request, "console/generation/diagnose.html", {
        "job": job, "diagnosis": diagnose.diagnose_job(job)})


# Cost --------------------------------------------------------------------------------------

@staff_required(VIEW)
def cost(request: HttpRequest) -> HttpResponse:
    form = PeriodForm(request.GET or None)
    start, end = form.period()
    return render(request, "console/generation/cost.html", {
        "form": form, "report": reports.cost_report(start, end),
        "last_day": end - timedelta(days=1)})
