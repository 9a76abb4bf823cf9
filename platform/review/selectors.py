"""Reads about review: the queue, its counts, publish status and the measures.

Everything runs in the tenant's scope (scoped managers) except
`approval_rate_by_instruction_version(all_tenants=True)`, which ISV staff use to compare
instruction-set versions across every tenant.

Measures:
- AI share: the mean of `Review.ai_share` over published texts (see review.publishing).
- Reviewer throughput: over a window (default the last 7 days), per reviewer, the decisions
  taken and the clock hours in which they took at least one; items per hour is decisions
  divided by those active hours, so a reviewer's breaks do not count against them.
- Approval rate per instruction-set version: of the decisions on texts that version wrote,
  the share approved (as is or edited); each generation of an item counts once per decision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from difflib import SequenceMatcher

from django.db.models import Avg, BooleanField, Case, Count, Q, QuerySet, Value, When
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.translation import gettext_lazy

from audit.models import AuditEvent
from generation.compliance import Violation
from generation.content import ContentKind, as_plain_text
from marketplaces.sites import MARKETPLACE_NAMES
from review.models import Review, ReviewDecision

Status = Review.Status

FLAG_COMPLIANCE = "compliance"
FLAG_NEAR_DUPLICATE = "near_duplicate"
FLAG_ANY = "flagged"
FLAG_CLEAN = "clean"
FLAGS = (FLAG_COMPLIANCE, FLAG_NEAR_DUPLICATE, FLAG_ANY, FLAG_CLEAN)

APPROVING = (ReviewDecision.Decision.APPROVED, ReviewDecision.Decision.EDITED_APPROVED)


def review_queue(*, status: str | None = Status.PENDING, store_id: int | None = None,
                 job_id: int | None = None, kind: str | None = None,
                 language: str | None = None, flag: str | None = None) -> QuerySet[Review]:
    """The reviews to work on, compliance-flagged first, then near-duplicates, then oldest
    first. `status=None` lists every status."""
    reviews = Review.objects.select_related("item", "item__product", "store", "reviewer")
    if status:
        reviews = reviews.filter(status=status)
    if store_id:
        reviews = reviews.filter(store_id=store_id)
    if job_id:
        reviews = reviews.filter(job_id=job_id)
    if kind:
        reviews = reviews.filter(item__kind=kind)
    if language:
        reviews = reviews.filter(item__language=language)
    if flag == FLAG_COMPLIANCE:
        reviews = reviews.filter(item__needs_human_check=True)
    elif flag == FLAG_NEAR_DUPLICATE:
        reviews = reviews.filter(near_duplicate_of__isnull=False)
    elif flag == FLAG_ANY:
        reviews = reviews.filter(Q(item__needs_human_check=True)
                                 | Q(near_duplicate_of__isnull=False))
    elif flag == FLAG_CLEAN:
        reviews = reviews.filter(item__needs_human_check=False, near_duplicate_of__isnull=True)
    return reviews.annotate(
        is_near_duplicate_flag=Case(When(near_duplicate_of__isnull=False, then=Value(True)),
                                    default=Value(False), output_field=BooleanField()),
    ).order_by("-item__needs_human_check", "-is_near_duplicate_flag", "created_at", "id")


def review_detail(review_id: int) -> Review:
    """One review with what its page and the API show (item, product, node, instructions)."""
    return (Review.objects.select_related(
        "item", "item__product", "item__node", "item__instruction_version__instruction_set",
        "store", "reviewer").get(pk=review_id))


def original_text(review: Review) -> str:
    """The listing's current text for the item's kind, as synced (what the AI text would
    replace); empty for kinds the listing has no field for."""
    product = review.item.product
    kind = review.item.kind
    if kind == ContentKind.TITLE:
        return product.title
    if kind == ContentKind.BULLET_POINTS:
        return "\n".join(product.bullet_points or [])
    if kind == ContentKind.SEARCH_TERMS:
        return "\n".join(product.search_terms or [])
    if kind == ContentKind.DETAIL_MODULES:
        return product.description
    return ""


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """A word-level diff for showing two texts side by side: ("equal" | "delete" | "insert",
    text) pieces; a replacement is a delete followed by an insert. Line breaks are kept."""
    old, new = re.split(r"(\s+)", before), re.split(r"(\s+)", after)
    pieces: list[tuple[str, str]] = []
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(("equal", "".join(old[i1:i2])))
            continue
        if op in ("delete", "replace"):
            pieces.append(("delete", "".join(old[i1:i2])))
        if op in ("insert", "replace"):
            pieces.append(("insert", "".join(new[j1:j2])))
    return [piece for piece in pieces if piece[1]]


def comparison(review: Review) -> dict:
    """What the item page shows side by side: the listing's text, the AI text and the text
    that would be published, with word diffs listing -> AI and AI -> published."""
    kind = review.item.kind
    original = original_text(review)
    ai_text = as_plain_text(kind, review.ai_content or {})
    current = as_plain_text(kind, review.current_content or {})
    return {"original_text": original, "ai_text": ai_text, "current_text": current,
            "original_to_ai": word_diff(original, ai_text) if original else [],
            "ai_to_current": word_diff(ai_text, current) if current != ai_text else []}


def waiting_for_review_count() -> int:
    """For the navigation and the dashboard: items of the tenant waiting for a person."""
    return Review.objects.filter(status=Status.PENDING).count()


# The queue's status tabs: key -> which reviews the tab lists. The tab's badge counts the
# same reviews (queue_counts), so the two cannot drift apart. An item being published keeps
# its status and is listed (and counted) under it, marked as publishing.
TABS: dict[str, Q] = {
    "pending": Q(status=Status.PENDING),
    "approved": Q(status__in=Review.APPROVED_STATUSES),
    "rejected": Q(status=Status.REJECTED),
    "regeneration_requested": Q(status=Status.REGENERATION_REQUESTED),
    "published": Q(status=Status.PUBLISHED),
    "publish_failed": Q(status=Status.PUBLISH_FAILED),
}


def queue_counts(*, store_id: int | None = None, job_id: int | None = None) -> dict[str, int]:
    """Per tab of TABS the number of reviews it lists, plus the pending ones that are
    compliance-flagged or near-duplicates and those being published."""
    reviews = Review.objects.all()
    if store_id:
        reviews = reviews.filter(store_id=store_id)
    if job_id:
        reviews = reviews.filter(job_id=job_id)
    pending = TABS["pending"]
    return reviews.aggregate(
        **{key: Count("id", filter=where) for key, where in TABS.items()},
        compliance_flagged=Count("id", filter=pending & Q(item__needs_human_check=True)),
        near_duplicates=Count("id", filter=pending & Q(near_duplicate_of__isnull=False)),
        publishing=Count("id", filter=Q(publish_pending=True)),
    )


def publish_status(*, store_id: int | None = None,
                   job_id: int | None = None) -> QuerySet[Review]:
    """Listing items on their way to the marketplace (queued, published or failed)."""
    reviews = Review.objects.select_related("item", "item__product", "store", "reviewer").filter(
        destination=Review.Destination.LISTING).filter(
        Q(publish_pending=True) | Q(status__in=(Status.PUBLISHED, Status.PUBLISH_FAILED)))
    if store_id:
        reviews = reviews.filter(store_id=store_id)
    if job_id:
        reviews = reviews.filter(job_id=job_id)
    return reviews.order_by("-publish_queued_at", "-id")


def audit_trail(review: Review) -> QuerySet[AuditEvent]:
    """Who generated, edited, approved, rejected and published the item, and when: the item's
    own events (review and regeneration) and its job's (started, cancelled, retried)."""
    where = Q(target=f"item #{review.item_id}") | Q(target=f"job #{review.job_id}")
    return AuditEvent.objects.filter(where).select_related("actor").order_by("created_at", "id")


# Measures ----------------------------------------------------------------------------------

def _mean(value) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.0001"))


def ai_share_for_tenant() -> Decimal | None:
    found = Review.objects.filter(status=Status.PUBLISHED, ai_share__isnull=False).aggregate(
        mean=Avg("ai_share"))
    return _mean(found["mean"])


def ai_share_by_store() -> dict[int, dict]:
    """Per store id: published texts and their mean AI share."""
    rows = (Review.objects.filter(status=Status.PUBLISHED, ai_share__isnull=False)
            .values("store_id", "store__display_name")
            .annotate(published=Count("id"), mean=Avg("ai_share")).order_by("store_id"))
    return {row["store_id"]: {"store": row["store__display_name"], "published": row["published"],
                              "ai_share": _mean(row["mean"])} for row in rows}


@dataclass(frozen=True)
class Throughput:
    reviewer_id: int
    email: str
    decisions: int
    active_hours: int

    @property
    def items_per_hour(self) -> Decimal:
        if not self.active_hours:
            return Decimal(0)
        return (Decimal(self.decisions) / Decimal(self.active_hours)).quantize(Decimal("0.01"))


def reviewer_throughput(*, since: datetime | None = None,
                        until: datetime | None = None) -> list[Throughput]:
    until = until or timezone.now()
    since = since or until - timedelta(days=7)
    decisions = ReviewDecision.objects.filter(decided_at__gte=since, decided_at__lt=until)
    rows = (decisions.values("by_id", "by__email")
            .annotate(decisions=Count("id"),
                      active_hours=Count(TruncHour("decided_at"), distinct=True))
            .order_by("by__email"))
    return [Throughput(row["by_id"], row["by__email"], row["decisions"], row["active_hours"])
            for row in rows]


@dataclass(frozen=True)
class ApprovalRate:
    instruction_version_id: int | None
    label: str
    decided: int
    approved: int
    edited: int
    rejected: int
    regenerated: int

    @property
    def rate(self) -> Decimal | None:
        if not self.decided:
            return None
        return (Decimal(self.approved) / Decimal(self.decided)).quantize(Decimal("0.0001"))


def approval_rate_by_instruction_version(*, all_tenants: bool = False) -> list[ApprovalRate]:
    # all_tenants: ISV staff compare versions across every tenant (crossing on purpose).
    decisions = ReviewDecision.unscoped.all() if all_tenants else ReviewDecision.objects.all()
    D = ReviewDecision.Decision
    rows = (decisions.values("instruction_version_id",
                             "instruction_version__instruction_set__name",
                             "instruction_version__number")
            .annotate(decided=Count("id"),
                      approved=Count("id", filter=Q(decision__in=APPROVING)),
                      edited=Count("id", filter=Q(decision=D.EDITED_APPROVED)),
                      rejected=Count("id", filter=Q(decision=D.REJECTED)),
                      regenerated=Count("id", filter=Q(decision=D.REGENERATION_REQUESTED)))
            .order_by("instruction_version_id"))
    result = []
    for row in rows:
        name = row["instruction_version__instruction_set__name"]
        label = f"{name} v{row['instruction_version__number']}" if name else "-"
        result.append(ApprovalRate(row["instruction_version_id"], label, row["decided"],
                                   row["approved"], row["edited"], row["rejected"],
                                   row["regenerated"]))
    return result


# The pre-publish check ---------------------------------------------------------------------

# The marketplaces' reason codes (sandbox.vocabulary names the same ones), for people.
MARKETPLACE_REASONS = {
    "EXAGGERATED_CLAIM": gettext_lazy("an exaggerated or superlative claim"),
    "MEDICAL_CLAIM": gettext_lazy("a medical or health claim"),
    "ABSOLUTE_PROMISE": gettext_lazy("an absolute promise"),
    "PROMOTION": gettext_lazy("promotion wording, which the marketplace controls itself"),
    "COUNTERFEIT": gettext_lazy("wording that suggests a counterfeit"),
}


def check_findings(review: Review) -> list[dict[str, str]]:
    """What the last pre-publish check found, one entry per finding, in the user's language:
    `source` ("marketplace" or "ours"), `marketplace` (its name), `path` (where, as
    text_fields labels it), `term`, `reason` (translated; the marketplace's own words when
    its reason code is unknown to us)."""
    check = review.publish_check or {}
    if not check or check.get("passed", True):
        return []
    marketplace = check.get("marketplace") or {}
    name = str(MARKETPLACE_NAMES.get(marketplace.get("name", ""), marketplace.get("name", "")))
    found: list[dict[str, str]] = []
    for entry in marketplace.get("findings") or []:
        code = entry.get("reason_code", "")
        reason = MARKETPLACE_REASONS.get(code)
        found.append({"source": "marketplace", "marketplace": name,
                      "path": entry.get("field", ""), "term": entry.get("term", ""),
                      "reason": str(reason) if reason else entry.get("reason", "") or code})
    for entry in check.get("ours") or []:
        violation = Violation(path=entry.get("field", ""), rule=entry.get("rule", ""),
                              term=entry.get("term", ""), matched=entry.get("matched", ""),
                              length=entry.get("length"), limit=entry.get("limit"))
        found.append({"source": "ours", "marketplace": name, "path": violation.path,
                      "term": violation.term, "reason": violation.explain()})
    return found


def rejected_before_publishing(review: Review) -> bool:
    """The last pre-publish check refused the text the item would publish now (approving it
    unchanged would be refused again)."""
    check = review.publish_check or {}
    return bool(check) and not check.get("passed", True) \
        and check.get("content") == review.current_content
