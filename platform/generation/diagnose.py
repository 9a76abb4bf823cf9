"""Diagnose a job: group what failed by error code and say in plain words what went wrong and
what to do about it, so staff locate a fault in under a minute.

Two sources: the job's failed items (their final error code) and its failed model requests
(every attempt is logged, also the ones a backup node made good). Plain functions returning
dataclasses; the console view only renders them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Max, Min, Q
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from generation.models import BannedWord, GenerationItem, GenerationJob, ModelRequestLog
from portal.error_codes import describe

STORE_AUTH_CODES = frozenset({"ERR_TEMU_403", "ERR_TOKEN_EXPIRED", "ERR_AUTH_CODE_INVALID"})
WHITELIST_CODES = frozenset({"ERR_IP_NOT_WHITELISTED"})
NODE_CODES = frozenset({"ERR_MODEL_TIMEOUT", "ERR_MODEL_UNAVAILABLE", "ERR_MODEL_RATE_LIMITED",
                        "ERR_MODEL_PAYMENT_REQUIRED", "ERR_MODEL_AUTH", "ERR_MODEL_BAD_REQUEST",
                        "ERR_MODEL_INVALID_OUTPUT", "ERR_NO_MODEL_NODE"})
CONTENT_CODES = frozenset({"ERR_CONTENT_REJECTED"})
QUOTA_CODES = frozenset({"ERR_QUOTA_EXCEEDED", "ERR_NO_SUBSCRIPTION"})
SAMPLE_SIZE = 10


@dataclass(frozen=True)
class Action:
    label: str | Promise
    url: str


@dataclass(frozen=True)
class NodeFailures:
    node_id: int | None
    node_name: str
    failures: int


@dataclass(frozen=True)
class TermHits:
    term: str
    hits: int
    banned_word_id: int | None  # the ISV list's entry, when the term is on it


@dataclass(frozen=True)
class SkuProblem:
    product_id: int
    sku: str
    title: str
    kind: str  # labels, as shown
    language: str


@dataclass
class FaultGroup:
    code: str
    meaning: str | Promise
    remedy: str | Promise
    explanation: str
    items_failed: int
    requests_failed: int
    first_at: datetime | None
    last_at: datetime | None
    actions: list[Action] = field(default_factory=list)
    nodes: list[NodeFailures] = field(default_factory=list)
    recovered_items: int = 0  # items that hit this error on a request and still succeeded
    terms: list[TermHits] = field(default_factory=list)
    skus: list[SkuProblem] = field(default_factory=list)
    skus_total: int = 0
    details: list[str] = field(default_factory=list)


@dataclass
class Diagnosis:
    job: GenerationJob
    verdict: str
    groups: list[FaultGroup]
    first_error_at: datetime | None
    last_error_at: datetime | None

    @property
    def healthy(self) -> bool:
        return not self.groups


def _earliest(*values: datetime | None) -> datetime | None:
    present = [value for value in values if value is not None]
    return min(present) if present else None


def _latest(*values: datetime | None) -> datetime | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None


def diagnose_job(job: GenerationJob) -> Diagnosis:
    """Every failure of `job`, grouped by error code, most items first."""
    items = GenerationItem.unscoped.filter(job=job)
    item_rows = {row["error_code"]: row for row in items.filter(
        status=GenerationItem.Status.FAILED).values("error_code").annotate(
        count=Count("id"), first=Min("finished_at"), last=Max("finished_at"))}
    request_rows = {row["error_code"]: row for row in ModelRequestLog.unscoped.filter(
        job=job).exclude(error_code="").values("error_code").annotate(
        count=Count("id"), first=Min("started_at"), last=Max("started_at"))}
    groups = []
    for code in set(item_rows) | set(request_rows):
        item_row, request_row = item_rows.get(code, {}), request_rows.get(code, {})
        error = describe(code)
        group = FaultGroup(
            code=code, meaning=error.meaning, remedy=error.remedy, explanation="",
            items_failed=item_row.get("count", 0), requests_failed=request_row.get("count", 0),
            first_at=_earliest(item_row.get("first"), request_row.get("first")),
            last_at=_latest(item_row.get("last"), request_row.get("last")))
        _explain(job, group)
        groups.append(group)
    groups.sort(key=lambda g: (-g.items_failed, -g.requests_failed, g.code))
    return Diagnosis(job=job, verdict=_verdict(job, groups), groups=groups,
                     first_error_at=_earliest(*(g.first_at for g in groups)),
                     last_error_at=_latest(*(g.last_at for g in groups)))


def _verdict(job: GenerationJob, groups: list[FaultGroup]) -> str:
    failing = [group for group in groups if group.items_failed]
    if not groups:
        return _("Nothing failed in this job.")
    if not failing:
        main = groups[0]
        return ngettext(
            "No item failed: %(count)s request failed with %(code)s (%(meaning)s), and another "
            "attempt made the item good. %(remedy)s",
            "No item failed: %(count)s requests failed with %(code)s (%(meaning)s), and "
            "another attempt made each item good. %(remedy)s", main.requests_failed) % {
            "count": main.requests_failed, "code": main.code, "meaning": main.meaning,
            "remedy": main.remedy}
    main = failing[0]
    verdict = ngettext(
        "%(count)s item failed because %(meaning)s (%(code)s)",
        "%(count)s items failed because %(meaning)s (%(code)s)",
        main.items_failed) % {"count": main.items_failed, "code": main.code,
                              "meaning": _lower_first(str(main.meaning)).rstrip(".")}
    verdict = f"{verdict} — {main.remedy}"
    others = sum(group.items_failed for group in failing[1:])
    if others:
        verdict += " " + ngettext("%(count)s more item failed for other reasons (below).",
                                  "%(count)s more items failed for other reasons (below).",
                                  others) % {"count": others}
    return verdict


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:1].isascii() else text


def _explain(job: GenerationJob, group: FaultGroup) -> None:
    code = group.code
    if code in STORE_AUTH_CODES:
        _explain_store(job, group)
    elif code in WHITELIST_CODES:
        group.explanation = _(
            "The marketplace refused our servers' address. Add these egress IPs to the store's "
            "IP whitelist in the seller center: %(ips)s.") % {
            "ips": ", ".join(settings.ISV_EGRESS_IPS)}
        group.actions.append(Action(_("Tenant (contact the seller)"),
                                    reverse("console_tenant", args=[job.tenant.slug])))
    elif code in NODE_CODES:
        _explain_nodes(job, group)
    elif code in CONTENT_CODES:
        _explain_content(job, group)
    elif code == "ERR_VS_402" or code.startswith("ERR_INPUT_"):
        _explain_input(job, group)
    elif code in QUOTA_CODES:
        _explain_quota(job, group)
    else:
        group.explanation = str(group.remedy)


def _explain_store(job: GenerationJob, group: FaultGroup) -> None:
    store = job.store
    group.explanation = _(
        "The marketplace no longer accepts store %(store)s's authorization. The seller must "
        "generate a new authorization code in the seller center (valid for 7 days) and "
        "re-authorize the store on its store page.") % {"store": store.display_name}
    group.actions.append(Action(_("Tenant (contact the seller)"),
                                reverse("console_tenant", args=[job.tenant.slug])))
    group.details.append(_("Seller's page for this: %(path)s") % {
        "path": reverse("store_reauthorize", args=[store.pk])})


def _explain_nodes(job: GenerationJob, group: FaultGroup) -> None:
    logs = ModelRequestLog.unscoped.filter(job=job, error_code=group.code)
    group.nodes = [NodeFailures(row["node"], row["node_name"], row["count"]) for row in
                   logs.values("node", "node_name").annotate(count=Count("id"))
                   .order_by("-count", "node_name")]
    hit_items = logs.exclude(item=None).values("item")
    recovered = GenerationItem.unscoped.filter(pk__in=hit_items,
                                               status=GenerationItem.Status.READY)
    group.recovered_items = recovered.count()
    writers = Counter(recovered.exclude(node=None).values_list("node__name", flat=True))
    node_text = ", ".join(ngettext("%(node)s failed %(count)s time",
                                   "%(node)s failed %(count)s times", n.failures)
                          % {"node": n.node_name, "count": n.failures} for n in group.nodes)
    parts = [node_text + "." if node_text else ""]
    if group.recovered_items:
        parts.append(ngettext(
            "The backup took over: %(count)s item still succeeded (written by %(nodes)s).",
            "The backup took over: %(count)s items still succeeded (written by %(nodes)s).",
            group.recovered_items) % {"count": group.recovered_items,
                                      "nodes": ", ".join(sorted(writers)) or "-"})
    if group.items_failed:
        parts.append(ngettext("%(count)s item failed on every node.",
                              "%(count)s items failed on every node.",
                              group.items_failed) % {"count": group.items_failed})
    if group.code == "ERR_MODEL_PAYMENT_REQUIRED":
        parts.append(_("Top up the provider account of the node."))
    elif group.code in {"ERR_MODEL_AUTH", "ERR_MODEL_BAD_REQUEST"}:
        parts.append(_("Correct the node's API key, model name or capabilities."))
    elif group.items_failed:
        parts.append(_("Switch the node off or add a backup node, then retry the failed "
                       "items."))
    group.explanation = " ".join(part for part in parts if part)
    if not group.nodes:  # no node was even tried (ERR_NO_MODEL_NODE)
        group.explanation = str(group.remedy)
        group.actions.append(Action(_("Model nodes"), reverse("console_nodes")))
    for node in group.nodes:
        if node.node_id is not None:
            group.actions.append(Action(_("Node %(node)s") % {"node": node.node_name},
                                        reverse("console_node_edit", args=[node.node_id])))


def _explain_content(job: GenerationJob, group: FaultGroup) -> None:
    counts: Counter[str] = Counter()
    for hits in GenerationItem.unscoped.filter(job=job, error_code=group.code).values_list(
            "compliance_hits", flat=True):
        for hit in hits or []:
            if isinstance(hit, dict) and hit.get("term"):
                counts[hit["term"]] += 1
    marketplace = job.store.site.marketplace
    listed = {}
    for word in BannedWord.objects.filter(term__in=list(counts)).filter(
            Q(marketplace="") | Q(marketplace=marketplace)).order_by("marketplace"):
        listed.setdefault(word.term, word.pk)
    group.terms = [TermHits(term, count, listed.get(term)) for term, count in
                   counts.most_common(SAMPLE_SIZE)]
    top = ", ".join(f'"{hit.term}" ({hit.hits})' for hit in group.terms[:3])
    group.explanation = _(
        "The model wrote banned words, so the compliance filter refused the content. Most "
        "hit: %(terms)s. Turn on compliance mode for the job (one stricter regeneration, then "
        "a person's check), or edit the word if it is listed by mistake.") % {
        "terms": top or "-"}
    if not job.compliance_mode:
        group.details.append(_("Compliance mode was off for this job."))
    for hit in group.terms:
        if hit.banned_word_id is not None:
            group.actions.append(Action(_('Banned word "%(term)s"') % {"term": hit.term},
                                        reverse("console_banned_words") + "?"
                                        + urlencode({"q": hit.term})))


def _explain_input(job: GenerationJob, group: FaultGroup) -> None:
    failed = (GenerationItem.unscoped.filter(job=job, error_code=group.code)
              .select_related("product").order_by("product__sku", "kind", "language"))
    group.skus_total = failed.values("product").distinct().count()
    group.skus = [SkuProblem(item.product_id, item.product.sku, item.product.title,
                             item.get_kind_display(), item.get_language_display())
                  for item in failed[:SAMPLE_SIZE]]
    group.explanation = ngettext(
        "%(count)s SKU has input the model cannot work from. %(remedy)s The seller fixes it "
        "in the seller center, syncs and retries the failed items.",
        "%(count)s SKUs have input the model cannot work from. %(remedy)s The seller fixes "
        "them in the seller center, syncs and retries the failed items.",
        group.skus_total) % {"count": group.skus_total, "remedy": group.remedy}
    group.actions.append(Action(_("Tenant (contact the seller)"),
                                reverse("console_tenant", args=[job.tenant.slug])))


def _explain_quota(job: GenerationJob, group: FaultGroup) -> None:
    from billing import quota

    usage = quota.usage_today(job.store)
    if group.code == "ERR_NO_SUBSCRIPTION":
        group.explanation = _("Store %(store)s has no active quota pack: %(reason)s") % {
            "store": job.store.display_name,
            "reason": usage.unusable_reason or _("no subscription")}
    else:
        cap = (_("no cap on overage calls") if usage.overage_cap is None
               else ngettext("a cap of %(cap)s overage call a day",
                             "a cap of %(cap)s overage calls a day", usage.overage_cap)
               % {"cap": usage.overage_cap})
        group.explanation = _(
            "Store %(store)s used its daily quota: %(included)s included calls and %(cap)s. "
            "The quota resets at %(resets)s; then retry the failed items, or raise the cap.") % {
            "store": job.store.display_name, "included": usage.included_calls, "cap": cap,
            "resets": f"{usage.resets_at:%Y-%m-%d %H:%M} ({job.tenant.time_zone})"}
    group.actions.append(Action(_("Tenant (contact the seller)"),
                                reverse("console_tenant", args=[job.tenant.slug])))
