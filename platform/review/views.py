"""Review pages: the queue (filters, status tabs, bulk approve, bulk publish), the item page
(original listing and AI text side by side with a diff, flags, decisions, publishing, audit
trail) and the tenant's review settings.

Every decision goes through review.services / review.publishing, which check roles, states,
four eyes and compliance; the pages only translate their ReviewError into messages. Every
query runs in the tenant's scope (Review.objects), so another tenant's item is a 404.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from generation.content import LANGUAGE_CHOICES, ContentKind, as_plain_text, text_fields
from generation.models import GenerationJob
from portal.error_codes import describe
from portal.paging import int_param
from review import publishing, selectors, services
from review.labels import field_label
from review.models import Review
from stores.selectors import listed_stores
from tenants.access import member_can, member_required
from tenants.roles import TenantPermission

Status = Review.Status
PER_PAGE = 25

# The queue's status tabs: key -> label. What a tab lists, and so its badge count, is
# selectors.TABS[key].
TABS: dict[str, Any] = {
    "pending": gettext_lazy("Waiting for review"),
    "approved": gettext_lazy("Approved"),
    "rejected": gettext_lazy("Rejected"),
    "regeneration_requested": gettext_lazy("Sent back"),
    "published": gettext_lazy("Published"),
    "publish_failed": gettext_lazy("Publishing failed"),
}

FLAG_CHOICES = [
    (selectors.FLAG_COMPLIANCE, gettext_lazy("Compliance-flagged")),
    (selectors.FLAG_NEAR_DUPLICATE, gettext_lazy("Near-duplicate")),
    (selectors.FLAG_ANY, gettext_lazy("Any flag")),
    (selectors.FLAG_CLEAN, gettext_lazy("No flags")),
]

LONG_FIELDS = frozenset({"description", "body", "script", "opening", "closing", "voiceover",
                         "visual"})
# Lists of plain strings: the edit form offers spare inputs to add entries; blank ones drop.
STRING_LISTS = {"bullet_points": 6, "search_terms": 30}
SPARE_INPUTS = 2
STORE_CODES = frozenset(publishing.STORE_ERRORS)


# Helpers -----------------------------------------------------------------------------------

def _filters(params) -> dict[str, Any]:
    status = params.get("status") or "pending"
    if status not in TABS:
        status = "pending"
    flag = params.get("flag") or ""
    kind = params.get("kind") or ""
    language = params.get("language") or ""
    return {
        "status": status,
        "store": int_param(params.get("store")),
        "job": int_param(params.get("job")),
        "kind": kind if kind in ContentKind.values else "",
        "language": language if language in dict(LANGUAGE_CHOICES) else "",
        "flag": flag if flag in selectors.FLAGS else "",
    }


def _query(filters: dict[str, Any], **override: Any) -> str:
    values = {**filters, **override}
    return urlencode({key: value for key, value in values.items()
                      if value not in (None, "") and not (key == "status" and value == "pending")})


def _queue(filters: dict[str, Any]):
    reviews = selectors.review_queue(status=None, store_id=filters["store"],
                                     job_id=filters["job"], kind=filters["kind"] or None,
                                     language=filters["language"] or None,
                                     flag=filters["flag"] or None)
    return reviews.filter(selectors.TABS[filters["status"]])


def _get_review(review_id: int) -> Review:
    try:
        return selectors.review_detail(review_id)
    except Review.DoesNotExist as missing:
        raise Http404 from missing


def _explained(code: str) -> dict[str, Any]:
    entry = describe(code)
    return {"code": code, "meaning": entry.meaning, "remedy": entry.remedy,
            "store_problem": code in STORE_CODES}


def _can_publish(request: HttpRequest) -> bool:
    return member_can(request, TenantPermission.PUBLISH)


# The diff ----------------------------------------------------------------------------------

_DIFF_TAGS = {"equal": "{}", "delete": '<del class="diff-del">{}</del>',
              "insert": '<ins class="diff-ins">{}</ins>'}


def diff_html(before: str, after: str) -> SafeString:
    """The word diff of two texts (selectors.word_diff) as HTML: removed words in <del>,
    added words in <ins>, the rest as it is; every piece of text escaped."""
    return mark_safe("".join(  # noqa: S308 - every piece is escaped
        _DIFF_TAGS[op].format(escape(text))
        for op, text in selectors.word_diff(before or "", after or "")))


# The edit form -----------------------------------------------------------------------------

def edit_fields(review: Review, content: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One input per text of the content (plus spare inputs for string lists)."""
    content = content if content is not None else review.current_content
    errors = errors or {}
    fields = [{"name": f"c.{path}", "path": path, "label": field_label(path), "value": value,
               "long": path.split(".")[-1] in LONG_FIELDS or
               (len(path.split(".")) > 1 and path.split(".")[-2] in LONG_FIELDS),
               "error": errors.get(path, "")}
              for path, value in text_fields(review.item.kind, content)]
    for key, most in STRING_LISTS.items():
        values = content.get(key)
        if isinstance(values, list):
            for index in range(len(values), min(len(values) + SPARE_INPUTS, most)):
                path = f"{key}.{index}"
                fields.append({"name": f"c.{path}", "path": path, "label": field_label(path),
                               "value": "", "long": False, "spare": True, "error": ""})
    return fields


def _set(target: Any, parts: list[str], value: str) -> None:
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


def content_from_post(review: Review, post) -> dict[str, Any]:
    """The edited content: the current content with every text replaced by its input;
    string lists rebuilt from their inputs in order. A blank spare input adds nothing; an
    entry the reviewer blanked stays blank, so the edit is refused with "this text is empty"
    instead of the entry silently disappearing."""
    content = copy.deepcopy(review.current_content)
    for path, _value in text_fields(review.item.kind, content):
        if path.split(".")[0] in STRING_LISTS:
            continue
        _set(content, path.split("."), post.get(f"c.{path}", "").strip())
    for key in STRING_LISTS:
        if isinstance(content.get(key), list):
            existing = len(content[key])
            indexed = []
            for name, value in post.items():
                match = re.fullmatch(rf"c\.{key}\.(\d+)", name)
                if match and (value.strip() or int(match.group(1)) < existing):
                    indexed.append((int(match.group(1)), value.strip()))
            content[key] = [value for _index, value in sorted(indexed)]
    return content


# The queue ---------------------------------------------------------------------------------

@member_required()
def review_queue(request: HttpRequest) -> HttpResponse:
    filters = _filters(request.GET)
    page = Paginator(_queue(filters), PER_PAGE).get_page(request.GET.get("page"))
    counts = selectors.queue_counts(store_id=filters["store"], job_id=filters["job"])
    tabs = [{"key": key, "label": label, "count": counts.get(key, 0),
             "active": key == filters["status"], "query": _query(filters, status=key)}
            for key, label in TABS.items()]
    bulk = request.session.pop("review_bulk_result", None)
    return render(request, "review/review_queue.html", {
        "filters": filters,
        "query": _query(filters),
        "page": page,
        "tabs": tabs,
        "counts": counts,
        "stores": listed_stores().order_by("display_name"),
        "jobs": GenerationJob.objects.select_related("store").order_by("-id")[:50],
        "kinds": ContentKind.choices,
        "language_options": LANGUAGE_CHOICES,
        "flags": FLAG_CHOICES,
        "filters_active": any(filters[key] for key in ("store", "job", "kind", "language",
                                                        "flag")),
        "can_review": member_can(request, TenantPermission.REVIEW),
        "can_publish": _can_publish(request),
        "show_publish": _can_publish(request)
        and filters["status"] in ("approved", "publish_failed"),
        "can_settings": member_can(request, TenantPermission.MANAGE_COMPANY),
        "bulk": bulk,
    })


def _bulk_rows(reviews: dict[int, Review], skipped: dict[int, dict[str, str]]) -> list[dict]:
    rows = []
    for review_id, reason in skipped.items():
        review = reviews.get(review_id)
        rows.append({
            "id": review_id,
            "url": reverse("review_item", args=[review_id]),
            "label": (f"{review.item.product.sku} · {review.item.get_kind_display()}"
                      if review else f"#{review_id}"),
            "code": reason["code"], "message": reason["message"],
            "remedy": str(describe(reason["code"]).remedy),
            "store_url": (reverse("store_detail", args=[review.store_id])
                          if review and reason["code"] in STORE_CODES else ""),
            "store": review.store.display_name if review else "",
        })
    return rows


@require_POST
@member_required()
def review_bulk(request: HttpRequest) -> HttpResponse:
    filters = _filters(request.POST)
    back = reverse("review") + (f"?{_query(filters)}" if _query(filters) else "")
    ids = [value for value in (int_param(v) for v in request.POST.getlist("ids")) if value]
    action = request.POST.get("action")
    if not ids:
        messages.warning(request, _("Select at least one item first."))
        return redirect(back)
    found = {review.pk: review for review in Review.objects.select_related(
        "item", "item__product", "store", "tenant").filter(pk__in=ids)}
    reviews = [found[i] for i in ids if i in found]
    try:
        if action == "approve":
            if not member_can(request, TenantPermission.REVIEW):
                raise PermissionDenied
            result = services.bulk_approve(reviews, by=request.user, role=request.tenant_role)
            done, skipped = result.approved, result.skipped
            title = _("Approved %(done)s of %(total)s selected items.")
        elif action == "publish":
            if not _can_publish(request):
                raise PermissionDenied
            result = publishing.queue_publication(reviews, by=request.user,
                                                  role=request.tenant_role)
            done, skipped = result.queued, result.skipped
            title = _("Queued %(done)s of %(total)s selected items for publishing.")
        else:
            messages.error(request, _("Unknown action."))
            return redirect(back)
    except services.ReviewError as error:
        messages.error(request, f"{error.message} {describe(error.code).remedy}")
        return redirect(back)
    request.session["review_bulk_result"] = {
        "action": action,
        "title": title % {"done": len(done), "total": len(reviews)},
        "skipped": _bulk_rows(found, skipped),
    }
    return redirect(back)


# The item ----------------------------------------------------------------------------------

def _neighbours(review: Review, filters: dict[str, Any]) -> tuple[int | None, int | None]:
    ids = list(_queue(filters).values_list("pk", flat=True))
    if review.pk not in ids:
        return None, ids[0] if ids else None
    index = ids.index(review.pk)
    return (ids[index - 1] if index > 0 else None,
            ids[index + 1] if index + 1 < len(ids) else None)


def _item_context(request: HttpRequest, review: Review, filters: dict[str, Any],
                  **extra: Any) -> dict[str, Any]:
    item = review.item
    original = selectors.original_text(review)
    ai_text = as_plain_text(item.kind, review.ai_content or {})
    previous_id, next_id = _neighbours(review, filters)
    query = _query(filters)
    suffix = f"?{query}" if query else ""
    findings = [{**hit, "label": field_label(hit.get("path", "")),
                 "too_long": hit.get("rule") == "too_long"}
                for hit in (item.compliance_hits or [])]
    duplicate = None
    if review.near_duplicate_of_id:
        other = Review.objects.filter(item_id=review.near_duplicate_of_id).select_related(
            "item__product").first()
        duplicate = {"review": other,
                     "similarity": (review.near_duplicate_similarity or 0) * 100}
    events = selectors.audit_trail(review)
    publish_error = (_explained(review.publish_error_code)
                     if review.publish_error_code else None)
    store_refusal = publishing.store_refusal(review.store)
    can_review = member_can(request, TenantPermission.REVIEW) and not review.publish_pending
    return {
        "review": review,
        "item": item,
        "product": item.product,
        "filters": filters,
        "original_diff": diff_html(original, as_plain_text(item.kind, review.current_content))
        if original else None,
        "edit_diff": (diff_html(ai_text, as_plain_text(item.kind, review.edited_content))
                      if review.edited_content is not None else None),
        "current_fields": [(field_label(path), value)
                           for path, value in text_fields(item.kind, review.current_content)],
        "findings": findings,
        "duplicate": duplicate,
        "events": events,
        "publish_error": publish_error,
        "check_findings": [{**entry, "label": field_label(entry["path"])}
                           for entry in selectors.check_findings(review)],
        "publishable_kind": publishing.is_publishable_kind(item.kind)
        and review.destination == Review.Destination.LISTING,
        "store_refusal": _explained(store_refusal) if store_refusal else None,
        "previous_url": (reverse("review_item", args=[previous_id]) + suffix
                         if previous_id else ""),
        "next_url": reverse("review_item", args=[next_id]) + suffix if next_id else "",
        "queue_url": reverse("review") + suffix,
        "can_review": member_can(request, TenantPermission.REVIEW),
        "can_publish": _can_publish(request),
        # What the decision services would accept now (they check again).
        "can_approve": can_review and review.status in services.APPROVABLE,
        "can_edit": can_review and review.status in services.REVISABLE,
        "can_reject": can_review and review.status in services.REVISABLE,
        "can_regenerate": can_review and review.status in services.RETURNABLE,
        "may_publish_now": review.status in publishing.PUBLISHABLE_STATUSES
        and (not review.publish_pending or publishing.is_stalled(review)),
        "publish_stalled": publishing.is_stalled(review),
        "edit_fields": extra.pop("edit_fields", None) or edit_fields(review),
        **extra,
    }


@member_required()
def review_item(request: HttpRequest, pk: int) -> HttpResponse:
    review = _get_review(pk)
    return render(request, "review/review_item.html",
                  _item_context(request, review, _filters(request.GET),
                                **_kept_refusal(request, review)))


def _pending_after(review: Review, filters: dict[str, Any]) -> list[int]:
    """Before a decision: the pending items of the same filtered queue in the order the
    reviewer meets them after this one (then, wrapping round, those before it)."""
    ids = list(_queue({**filters, "status": "pending"}).values_list("pk", flat=True))
    if review.pk not in ids:
        return ids
    index = ids.index(review.pk)
    return ids[index + 1:] + ids[:index]


def _after_decision(request: HttpRequest, review: Review, filters: dict[str, Any],
                    candidates: list[int]):
    """The next item still pending in the same filtered queue, else the queue."""
    pending_filters = {**filters, "status": "pending"}
    query = _query(pending_filters)
    suffix = f"?{query}" if query else ""
    still = set(Review.objects.filter(pk__in=candidates, status=Status.PENDING)
                .exclude(pk=review.pk).values_list("pk", flat=True))
    next_id = next((pk for pk in candidates if pk in still), None)
    if next_id:
        return redirect(reverse("review_item", args=[next_id]) + suffix)
    messages.info(request, _("No more items wait for review in this queue."))
    return redirect(reverse("review") + suffix)


REFUSAL_SESSION_KEY = "review_refusal"


def _refused(request: HttpRequest, review: Review, filters: dict[str, Any],
             error: services.ReviewError, **kept: Any) -> HttpResponse:
    """Redirect after POST: the refusal and what the reviewer sent (`kept`, JSON) wait in the
    session for the item page, so a refresh does not send the decision again."""
    request.session[REFUSAL_SESSION_KEY] = {"review": review.pk, "message": error.message,
                                            "code": error.code, "kept": kept}
    query = _query(filters)
    return redirect(reverse("review_item", args=[review.pk]) + (f"?{query}" if query else ""))


def _kept_refusal(request: HttpRequest, review: Review) -> dict[str, Any]:
    """The refusal of the decision just sent on this item, once, with its form reopened."""
    refusal = request.session.get(REFUSAL_SESSION_KEY)
    if not refusal or refusal.get("review") != review.pk:
        return {}
    del request.session[REFUSAL_SESSION_KEY]
    kept = dict(refusal.get("kept") or {})
    if "edit_content" in kept:
        errors = {path: " ".join(texts) if isinstance(texts, list) else str(texts)
                  for path, texts in (kept.pop("edit_errors") or {}).items()}
        kept["edit_fields"] = edit_fields(review, kept.pop("edit_content"), errors)
    return {"decision_error": {"message": refusal["message"], **_explained(refusal["code"])},
            **kept}


def _decide(request: HttpRequest, review: Review, decide: Callable[..., Review], done: str,
            reopen: Callable[[services.ReviewError], dict[str, Any]] | None = None,
            **fields: Any) -> HttpResponse:
    """One decision from the item page (`decide` is the review service, `fields` what it is
    given besides the reviewer): then the next pending item of the same queue, or on refusal
    the page again with the error and the form reopened as it was sent (`reopen`)."""
    filters = _filters(request.POST)
    candidates = _pending_after(review, filters)
    try:
        decide(review, by=request.user, role=request.tenant_role, **fields)
    except services.ReviewError as error:
        return _refused(request, review, filters, error, **(reopen(error) if reopen else {}))
    messages.success(request, done % {"product": review.item.product.sku})
    return _after_decision(request, review, filters, candidates)


@require_POST
@member_required(TenantPermission.REVIEW)
def review_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, _get_review(pk), services.approve, _("Approved: %(product)s."))


@require_POST
@member_required(TenantPermission.REVIEW)
def review_edit(request: HttpRequest, pk: int) -> HttpResponse:
    review = _get_review(pk)
    content = content_from_post(review, request.POST)

    def reopen(error: services.ReviewError) -> dict[str, Any]:
        return {"edit_open": True, "edit_content": content,
                "edit_errors": {path: texts if isinstance(texts, list) else [str(texts)]
                                for path, texts in error.details.items()}}

    return _decide(request, review, services.edit_and_approve,
                   _("Edited and approved: %(product)s."), reopen, content=content)


@require_POST
@member_required(TenantPermission.REVIEW)
def review_reject(request: HttpRequest, pk: int) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _decide(request, _get_review(pk), services.reject, _("Rejected: %(product)s."),
                   lambda _error: {"reject_open": True, "reason": reason}, reason=reason)


@require_POST
@member_required(TenantPermission.REVIEW)
def review_regenerate(request: HttpRequest, pk: int) -> HttpResponse:
    note = request.POST.get("note", "")
    return _decide(request, _get_review(pk), services.request_regeneration,
                   _("Sent back for regeneration: %(product)s. It returns to the queue when "
                     "the new text is ready."),
                   lambda _error: {"regenerate_open": True, "note": note}, note=note)


@require_POST
@member_required()
def review_publish(request: HttpRequest, pk: int) -> HttpResponse:
    if not _can_publish(request):
        raise PermissionDenied
    review = _get_review(pk)
    filters = _filters(request.POST)
    query = _query(filters)
    here = reverse("review_item", args=[review.pk]) + (f"?{query}" if query else "")
    try:
        result = publishing.queue_publication([review], by=request.user,
                                              role=request.tenant_role)
    except services.ReviewError as error:
        return _refused(request, review, filters, error)
    if result.skipped:
        reason = result.skipped[review.pk]
        messages.error(request, _("Not published: %(message)s (%(code)s)")
                       % {"message": reason["message"], "code": reason["code"]})
    else:
        messages.success(request, _("Queued for publishing with the AI-assisted flag."))
    return redirect(here)


# Settings ----------------------------------------------------------------------------------

@member_required(TenantPermission.MANAGE_COMPANY)
def review_settings(request: HttpRequest) -> HttpResponse:
    current = services.settings_for(request.tenant)
    if request.method == "POST":
        wanted = request.POST.get("require_four_eyes") == "on"
        services.update_settings(request.tenant, require_four_eyes=wanted, by=request.user)
        messages.success(request, _("Review settings saved."))
        return redirect("review_settings")
    return render(request, "review/review_settings.html", {"current": current})


# The dashboard's review measures -----------------------------------------------------------

def dashboard_measures() -> dict[str, Any]:
    """For the portal dashboard (runs in the tenant's scope)."""
    counts = selectors.queue_counts()
    by_store = selectors.ai_share_by_store()
    return {
        "waiting": counts["pending"],
        "flagged": counts["compliance_flagged"],
        "publish_failed": counts["publish_failed"],
        "published": counts["published"],
        "ai_share": selectors.ai_share_for_tenant(),
        "ai_share_by_store": [{"store_id": store_id, **row} for store_id, row in by_store.items()],
        "throughput": selectors.reviewer_throughput(),
        "approval_rates": selectors.approval_rate_by_instruction_version(),
        "queue_url": reverse("review"),
        "failed_url": reverse("review") + "?" + urlencode({"status": "publish_failed"}),
    }
