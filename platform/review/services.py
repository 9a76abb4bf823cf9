"""Writes about review: items enter the queue, people decide on them.

Rules (every decision is checked here, whoever calls):
- Only members whose tenant role has the REVIEW permission decide (owner, reviewer), and only
  while the company is active.
- Four eyes: when the tenant's `ReviewSettings.require_four_eyes` is on, the person who started
  a job cannot approve its items (rejecting or sending back stays allowed).
- An edited text is validated against the kind's JSON shape and goes through the compliance
  filter again (the ISV's and the tenant's banned words for the store's marketplace and the
  item's language, and the marketplace's length limits) before it is approved.
- States: approve only from pending; edit-and-approve from pending or an approved / failed
  item that is not being published; reject and send back from any undecided or approved state
  not being published, and a rejected item may still be sent back; published is final; a
  regenerated item returns to pending when the pipeline hands it back (`enter_review`).
- Bulk approve skips items that need a compliance check (`needs_human_check`) and
  near-duplicates, and says which and why.

Every decision is a `ReviewDecision` row and an audit event ("review.approved", ...).

Near-duplicates: an item's text is compared with the texts of the same store, content kind and
language written for other products. The text is the kind's plain text (`as_plain_text`),
lower-cased, punctuation dropped and whitespace collapsed; it is cut into overlapping
4-character shingles, and two texts whose shingle sets have a Jaccard similarity of at least
NEAR_DUPLICATE_THRESHOLD (0.75) are near-duplicates: both are flagged. (Measured on titles:
the same title with another capacity, "750 ml" / "500 ml", scores 0.88; with another colour
0.77; two lamps that differ in three specifications 0.73; unrelated products under 0.05.)
Candidates come from MinHash locality-sensitive hashing over the store's whole history: each
text's signature is cut into bands stored in `NearDuplicateBand` (indexed by store and band),
texts sharing a band are candidates (the newest NEWEST_PER_BAND of each band), and the
NEAR_DUPLICATE_CANDIDATES sharing the most bands are compared exactly. So entering review costs
the same few milliseconds however many texts (and near-copies) the store has.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from pydantic import ValidationError

from audit.models import AuditEvent
from audit.services import record
from generation import compliance
from generation.content import SHAPES, ContentKind, as_plain_text, text_fields
from generation.models import BannedWord, GenerationItem, GenerationJob, TenantBannedWord
from review.labels import field_label
from review.models import (
    NearDuplicateBand,
    Review,
    ReviewDecision,
    ReviewNotice,
    ReviewSettings,
)
from review.selectors import check_findings, rejected_before_publishing
from tenants.models import Membership, Tenant, User
from tenants.roles import TenantPermission, TenantRole, tenant_role_allows

logger = logging.getLogger(__name__)

Status = Review.Status

NEAR_DUPLICATE_THRESHOLD = Decimal("0.75")
SHINGLE_SIZE = 4
# MinHash with locality-sensitive hashing: BANDS bands of ROWS_PER_BAND values. Two texts
# become candidates when they share a band: at a similarity of 0.75 that happens with
# probability 1 - (1 - 0.75^3)^10 = 99.6%, at 0.3 with 24%, at 0.05 with 0.1%.
BANDS = 10
ROWS_PER_BAND = 3
NEAR_DUPLICATE_CANDIDATES = 10  # the texts sharing the most bands, compared exactly
NEWEST_PER_BAND = 20  # of each band, only its newest texts are candidates
_PRIME = (1 << 61) - 1
_seeds = random.Random(20240601)  # noqa: S311 (fixed: signatures must be stable)
_PERMUTATIONS = [(_seeds.randrange(1, _PRIME), _seeds.randrange(0, _PRIME))
                 for _ in range(BANDS * ROWS_PER_BAND)]

# Kinds the seller uses elsewhere: reviewed like the rest, never sent to the listing.
# Image descriptions too: the marketplaces' content update has no alt-text field, and writing
# the image description into the listing's description would overwrite the real one.
SELLER_KINDS = frozenset({ContentKind.VIDEO_SCRIPT, ContentKind.LIVESTREAM_SCRIPT,
                          ContentKind.IMAGE_DESCRIPTION})

# Statuses whose text counts for near-duplicate detection (a rejected or sent-back text will
# not be published).
LIVE_STATUSES = (Status.PENDING, Status.APPROVED, Status.EDITED_APPROVED, Status.PUBLISHED,
                 Status.PUBLISH_FAILED)

# Audit actions of this app (AuditEvent.action is free text with known labels elsewhere).
Action = AuditEvent.Action
ACTION_ENTERED = Action.REVIEW_ENTERED
ACTION_APPROVED = Action.REVIEW_APPROVED
ACTION_EDITED_APPROVED = Action.REVIEW_EDITED_APPROVED
ACTION_REJECTED = Action.REVIEW_REJECTED
ACTION_REGENERATION = Action.REVIEW_SENT_BACK
ACTION_SETTINGS = Action.REVIEW_SETTINGS_CHANGED
ACTION_PUBLISH_QUEUED = Action.PUBLISH_QUEUED
ACTION_PUBLISHED = Action.PUBLISHED
ACTION_PUBLISH_FAILED = Action.PUBLISH_FAILED

# The states each decision starts from (never while the item is being published).
APPROVABLE = (Status.PENDING,)
# Edit-and-approve and reject: undecided, or approved and not published yet.
REVISABLE = (Status.PENDING, Status.APPROVED, Status.EDITED_APPROVED, Status.PUBLISH_FAILED)
# Send back: the same, and a rejected item too.
RETURNABLE = (*REVISABLE, Status.REJECTED)


class ReviewError(Exception):
    """A review action that is refused; `code` is from portal.error_codes."""

    def __init__(self, message: str, *, code: str, field: str = "",
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.details = details or {}


# Helpers -----------------------------------------------------------------------------------

def normalised_text(kind: str, content: dict[str, Any] | None) -> str:
    text = re.sub(r"[^\w]+", " ", as_plain_text(kind, content or {}).lower())
    return re.sub(r"\s+", " ", text).strip()


def shingles(text: str, size: int = SHINGLE_SIZE) -> set[str]:
    if len(text) <= size:
        return {text} if text else set()
    return {text[i:i + size] for i in range(len(text) - size + 1)}


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def minhash(text_shingles: set[str]) -> list[int]:
    """The MinHash signature: per permutation (a*x + b mod a Mersenne prime) the smallest
    hash of any shingle."""
    hashes = [_hash64(shingle) for shingle in text_shingles] or [0]
    return [min((a * value + b) % _PRIME for value in hashes) for a, b in _PERMUTATIONS]


def band_keys(kind: str, language: str, text_shingles: set[str]) -> list[int]:
    """One key per band of the signature, including kind and language (signed 63-bit)."""
    signature = minhash(text_shingles)
    keys = []
    for band in range(BANDS):
        rows = signature[band * ROWS_PER_BAND:(band + 1) * ROWS_PER_BAND]
        keys.append(_hash64(f"{kind}|{language}|{band}|{rows}") >> 1)
    return keys


def jaccard(first: set[str], second: set[str]) -> Decimal:
    if not first or not second:
        return Decimal(0)
    share = Decimal(len(first & second)) / Decimal(len(first | second))
    return share.quantize(Decimal("0.0001"))


def review_target(item: GenerationItem) -> str:
    """The audit events' target for an item, as generation writes it too: "item #<id>"."""
    return f"item #{item.pk}"


def _details(review: Review, **extra: Any) -> dict[str, Any]:
    item = review.item
    return {"item_id": item.pk, "job_id": item.job_id, "store_id": item.store_id,
            "product_id": item.product_id, "kind": item.kind, "language": item.language,
            "generation": review.generation,
            "instruction_version_id": item.instruction_version_id, **extra}


def settings_for(tenant: Tenant) -> ReviewSettings:
    found = ReviewSettings.unscoped.filter(tenant=tenant).first()
    return found or ReviewSettings(tenant=tenant)


def update_settings(tenant: Tenant, *, require_four_eyes: bool, by: User) -> ReviewSettings:
    current = settings_for(tenant)
    current.require_four_eyes = require_four_eyes
    current.updated_by = by
    current.save()
    record(ACTION_SETTINGS, tenant=tenant, actor=by, target="review_settings",
           details={"require_four_eyes": require_four_eyes})
    return current


def _role_of(tenant: Tenant, user: User) -> str | None:
    return (Membership.unscoped.filter(tenant=tenant, user=user)
            .values_list("role", flat=True).first())


def _require_reviewer(tenant: Tenant, by: User, role: str | None) -> None:
    role = role if role is not None else _role_of(tenant, by)
    if role is None or not tenant_role_allows(role, tenant.is_active, TenantPermission.REVIEW):
        raise ReviewError(_("Your role does not allow reviewing AI content."),
                          code="ERR_REVIEW_NOT_ALLOWED")


def _four_eyes_refusal(review: Review, by: User) -> ReviewError | None:
    if review.job.created_by_id == by.pk and settings_for(review.tenant).require_four_eyes:
        return ReviewError(
            _("You started this job, and your company requires a second person to approve its "
              "items. Ask another reviewer."), code="ERR_REVIEW_FOUR_EYES")
    return None


def _state_refusal(review: Review, allowed: Iterable[str]) -> None:
    if review.status not in allowed or review.publish_pending:
        if review.publish_pending:
            message = _("The item is being published; wait until publishing has finished.")
        else:
            message = _("The item is “%(status)s”; this decision is not possible now.") % {
                "status": review.get_status_display()}
        raise ReviewError(message, code="ERR_REVIEW_STATE")


def _locked(review: Review) -> Review:
    """The review row, locked for the decision, with what decisions read."""
    return (Review.unscoped.select_for_update(of=("self",))
            .select_related("item", "job", "store", "tenant", "item__instruction_version")
            .get(pk=review.pk))


def _locked_for(review: Review, allowed: Iterable[str], by: User, *,
                four_eyes: bool = False) -> Review:
    """The review locked for a decision from one of the `allowed` states; refused otherwise,
    and for approvals (`four_eyes`) when the four-eyes rule keeps `by` from approving."""
    review = _locked(review)
    _state_refusal(review, allowed)
    refusal = _four_eyes_refusal(review, by) if four_eyes else None
    if refusal:
        raise refusal
    return review


def _decide(review: Review, decision: str, *, by: User, note: str, action: str,
            extra: dict[str, Any] | None = None) -> None:
    now = timezone.now()
    review.reviewer = by
    review.decided_at = now
    review.save()
    ReviewDecision.unscoped.create(
        tenant_id=review.tenant_id, review=review, generation=review.generation,
        instruction_version_id=review.item.instruction_version_id, decision=decision, by=by,
        note=note)
    record(action, tenant=review.tenant, actor=by, target=review_target(review.item),
           details=_details(review, **(extra or {})))


# Entering review ---------------------------------------------------------------------------

def enter_review(item: GenerationItem, *, first_entry: bool = False) -> Review:
    """Put a READY item in the review queue. Idempotent: calling it again for the same
    generation returns the same review; a new generation (after regeneration) resets the
    review to pending with the new text. Runs the near-duplicate check. (The pipeline tells
    the reviewers once the job's last item has ended: `notify_reviewers_if_job_ready`.)

    `first_entry`: the caller knows the item has never been in review, which saves looking
    its review up (the pipeline, for an item's first generation: that ending is its only one).

    Runs in the generation pipeline's per-item transaction, so it keeps to a few queries:
    the review row (locked), its save, the near-duplicate candidates and bands, the audit
    event; no savepoint of its own (an error rolls the caller's transaction back anyway)."""
    with transaction.atomic(savepoint=False):
        review = (None if first_entry
                  else Review.unscoped.select_for_update().filter(item=item).first())
        if review is not None and review.generation == item.generation:
            return review
        created = review is None
        if created:
            review = Review(tenant_id=item.tenant_id, item=item, store_id=item.store_id,
                            job_id=item.job_id)
        review.tenant = _tenant_of(item)
        review.item = item
        review.generation = item.generation
        review.status = Status.PENDING
        review.destination = (Review.Destination.SELLER if item.kind in SELLER_KINDS
                              else Review.Destination.LISTING)
        review.ai_content = item.content or {}
        review.edited_content = None
        review.reviewer, review.decided_at = None, None
        review.reject_reason = ""
        review.regeneration_note = ""
        review.publish_pending = False
        review.publish_error_code = review.publish_error_message = ""
        review.published_content, review.ai_share = None, None
        review.publish_check = None  # a new text: the last check was about the old one
        bands = _flag_near_duplicates(review)
        review.save()
        _save_bands(review, bands, replace=not created)
        record(ACTION_ENTERED, tenant=review.tenant, actor=None, target=review_target(item),
               details=_details(review, needs_human_check=item.needs_human_check,
                                near_duplicate_of=review.near_duplicate_of_id))
    return review


def _tenant_of(item: GenerationItem) -> Tenant:
    """The item's tenant; without a query when the item came with its store and the store's
    tenant, as the generation pipeline loads it."""
    if not GenerationItem.tenant.is_cached(item) and GenerationItem.store.is_cached(item):
        return item.store.tenant
    return item.tenant


def _flag_near_duplicates(review: Review) -> list[int]:
    """Compare the review's current text with other products' texts of the same store, kind
    and language; flag this review (the caller saves it) and the one it resembles most.
    Returns the text's band keys, for `_save_bands` once the review is saved."""
    item = review.item
    text_shingles = shingles(normalised_text(item.kind, review.current_content))
    keys = band_keys(item.kind, item.language, text_shingles)
    candidates = _closest_texts(review, keys)
    best: tuple[Decimal, int, int, int | None, str] | None = None
    for review_id, item_id, ai_content, edited_content, marked_as, status in candidates:
        text = edited_content if edited_content is not None else ai_content
        similarity = jaccard(text_shingles, shingles(normalised_text(item.kind, text)))
        if similarity >= NEAR_DUPLICATE_THRESHOLD and (
                best is None or (similarity, review_id) > (best[0], best[1])):
            best = (similarity, review_id, item_id, marked_as, status)
    if best is None:
        review.near_duplicate_of, review.near_duplicate_similarity = None, None
        return keys
    similarity, other_id, other_item_id, other_marked_as, other_status = best
    review.near_duplicate_of_id = other_item_id
    review.near_duplicate_similarity = similarity
    if other_marked_as is None and other_status != Status.PUBLISHED:
        Review.unscoped.filter(pk=other_id).update(near_duplicate_of_id=item.pk,
                                                   near_duplicate_similarity=similarity)
    return keys


def _closest_texts(review: Review, keys: list[int]) -> list[tuple]:
    """(review id, item id, AI text, edited text, near_duplicate_of_id, status) of the
    NEAR_DUPLICATE_CANDIDATES live texts of other products sharing the most bands with
    `keys`, most shared first. Each band contributes only its NEWEST_PER_BAND texts: a store
    of thousands of near-identical variants would otherwise make every new text count
    thousands of rows (the cost grew with the square of the store's size)."""
    item = review.item
    with connection.cursor() as cursor:
        cursor.execute(_CLOSEST_TEXTS, {
            "keys": keys, "store": review.store_id, "per_band": NEWEST_PER_BAND,
            "live": [status.value for status in LIVE_STATUSES], "kind": item.kind,
            "language": item.language, "product": item.product_id,
            "limit": NEAR_DUPLICATE_CANDIDATES})
        return [(*row[:2], _json(row[2]), _json(row[3]), *row[4:]) for row in cursor.fetchall()]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


_CLOSEST_TEXTS = f"""
SELECT r.id, r.item_id, r.ai_content, r.edited_content, r.near_duplicate_of_id, r.status
FROM (SELECT newest.review_id, count(*) AS shared
      FROM unnest(%(keys)s::bigint[]) AS k(band)
      CROSS JOIN LATERAL (SELECT b.review_id FROM {NearDuplicateBand._meta.db_table} b
                          WHERE b.store_id = %(store)s AND b.band = k.band
                          ORDER BY b.review_id DESC LIMIT %(per_band)s) newest
      GROUP BY newest.review_id) c
JOIN {Review._meta.db_table} r ON r.id = c.review_id
JOIN {GenerationItem._meta.db_table} i ON i.id = r.item_id
WHERE r.status = ANY(%(live)s) AND i.kind = %(kind)s AND i.language = %(language)s
  AND i.product_id <> %(product)s
ORDER BY c.shared DESC, r.id DESC
LIMIT %(limit)s"""  # noqa: S608 (table names from the models)


def _save_bands(review: Review, keys: list[int], *, replace: bool = True) -> None:
    """Store the (saved) review's band keys, replacing those of its earlier text."""
    if replace:
        NearDuplicateBand.unscoped.filter(review=review).delete()
    NearDuplicateBand.unscoped.bulk_create([
        NearDuplicateBand(tenant_id=review.tenant_id, review=review, store_id=review.store_id,
                          band=key) for key in keys])


# Decisions ---------------------------------------------------------------------------------

def approve(review: Review, *, by: User, role: str | None = None) -> Review:
    """Approve the AI text as it is."""
    _require_reviewer(review.tenant, by, role)
    with transaction.atomic():
        review = _locked_for(review, APPROVABLE, by, four_eyes=True)
        refusal = _check_refusal(review)
        if refusal:
            raise refusal
        review.status = Status.APPROVED
        _decide(review, ReviewDecision.Decision.APPROVED, by=by, note="",
                action=ACTION_APPROVED)
    return review


def _check_refusal(review: Review) -> ReviewError | None:
    """The text came back from publishing because a check (ours or the marketplace's) refused
    it: approving it unchanged would be refused again."""
    if not rejected_before_publishing(review):
        return None
    found = check_findings(review)
    return ReviewError(
        _("Publishing refused this text: %(problems)s Edit it, then approve it.") % {
            "problems": " ".join(f"“{entry['term']}”: {entry['reason']}." for entry in found)},
        code=review.publish_error_code or "ERR_MARKETPLACE_CONTENT_REJECTED",
        details={"findings": found})


def banned_terms_for(review: Review) -> list[str]:
    """The ISV's and the tenant's banned words for the store's marketplace and the item's
    language (entries without a marketplace or language apply everywhere)."""
    marketplace = review.store.site.marketplace.value
    language = review.item.language
    where = (Q(marketplace="") | Q(marketplace=marketplace)) & (Q(language="") |
                                                                 Q(language=language))
    isv = BannedWord.objects.filter(where).values_list("term", flat=True)
    own = TenantBannedWord.unscoped.filter(where, tenant_id=review.tenant_id).values_list(
        "term", flat=True)
    return sorted(set(isv) | set(own))


def _shape_problem(entry: dict[str, Any]) -> str:
    """A pydantic error of an edited text, in the user's language (pydantic speaks English)."""
    context = entry.get("ctx") or {}
    kind = entry.get("type", "")
    if kind == "string_too_short":
        return _("This text is empty. Write it, or send the item back for regeneration.")
    if kind == "missing":
        return _("This text is missing.")
    if kind == "too_short":
        return _("At least %(count)s entries are needed.") % {
            "count": context.get("min_length", "")}
    if kind == "too_long":
        return _("At most %(count)s entries are allowed.") % {
            "count": context.get("max_length", "")}
    if kind in ("string_type", "list_type", "model_type", "dict_type"):
        return _("This is not in the content kind's shape.")
    return _("This value is not valid here.")


def _listed(problems: dict[str, list[str]]) -> str:
    """"Title: one. two. Bullet point 3: three." with the fields as the page labels them."""
    return " ".join(_("%(field)s: %(problems)s") % {"field": field_label(path),
                                                     "problems": " ".join(texts)}
                    for path, texts in problems.items())


def validate_edit(review: Review, content: Any) -> dict[str, Any]:
    """The edited content in its kind's shape, checked by the compliance filter; raises
    ReviewError (ERR_REVIEW_INVALID_CONTENT or ERR_REVIEW_EDIT_REJECTED)."""
    kind = review.item.kind
    if not isinstance(content, dict):
        raise ReviewError(_("The edited content must be an object in the content kind's shape."),
                          code="ERR_REVIEW_INVALID_CONTENT", field="content")
    try:
        cleaned = SHAPES[kind].model_validate(content).model_dump()
    except ValidationError as error:
        problems: dict[str, list[str]] = {}
        for entry in error.errors():
            path = ".".join(str(p) for p in entry.get("loc", ())) or "content"
            problems.setdefault(path, []).append(_shape_problem(entry))
        raise ReviewError(_("The edited content is incomplete or malformed: %(problems)s")
                          % {"problems": _listed(problems)},
                          code="ERR_REVIEW_INVALID_CONTENT", field="content",
                          details=problems) from error
    violations = compliance.find_violations(
        kind, cleaned, marketplace=review.store.site.marketplace.value,
        banned_terms=banned_terms_for(review))
    if violations:
        found: dict[str, list[str]] = {}
        for violation in violations:  # every finding, several per text when it has several
            found.setdefault(violation.path, []).append(violation.explain())
        raise ReviewError(
            _("The edited text cannot be approved (findings: %(count)s): %(problems)s")
            % {"count": len(violations), "problems": _listed(found)},
            code="ERR_REVIEW_EDIT_REJECTED", field="content", details=found)
    return cleaned


def edit_and_approve(review: Review, *, content: dict[str, Any], by: User,
                     role: str | None = None) -> Review:
    """Approve the reviewer's edited text, after it passed the compliance filter again."""
    _require_reviewer(review.tenant, by, role)
    with transaction.atomic():
        review = _locked_for(review, REVISABLE, by, four_eyes=True)
        cleaned = validate_edit(review, content)
        unchanged = cleaned == review.ai_content
        review.edited_content = None if unchanged else cleaned
        refusal = _check_refusal(review)  # "edited" back to the text publishing refused
        if refusal:
            raise refusal
        review.status = Status.APPROVED if unchanged else Status.EDITED_APPROVED
        review.publish_error_code = review.publish_error_message = ""
        _save_bands(review, _flag_near_duplicates(review))
        _decide(review, ReviewDecision.Decision.APPROVED if unchanged
                else ReviewDecision.Decision.EDITED_APPROVED, by=by, note="",
                action=ACTION_APPROVED if unchanged else ACTION_EDITED_APPROVED,
                extra={"edited_fields": _changed_paths(review)})
    return review


def _changed_paths(review: Review) -> list[str]:
    kind = review.item.kind
    before = dict(text_fields(kind, review.ai_content))
    after = dict(text_fields(kind, review.current_content))
    return sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))


def reject(review: Review, *, reason: str, by: User, role: str | None = None) -> Review:
    """Reject the text for good; the reason is required."""
    _require_reviewer(review.tenant, by, role)
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError(_("Give a reason for the rejection."),
                          code="ERR_REVIEW_REASON_REQUIRED", field="reason")
    with transaction.atomic():
        review = _locked_for(review, REVISABLE, by)
        review.status = Status.REJECTED
        review.reject_reason = reason
        _decide(review, ReviewDecision.Decision.REJECTED, by=by, note=reason,
                action=ACTION_REJECTED, extra={"reason": reason})
    return review


def request_regeneration(review: Review, *, note: str, by: User,
                         role: str | None = None) -> Review:
    """Send the item back: the generation pipeline writes it again, with the note added to
    the next attempt's request, and hands it back to review (pending) when it is ready."""
    from generation import services as generation_services  # the pipeline: late import

    _require_reviewer(review.tenant, by, role)
    note = (note or "").strip()
    with transaction.atomic():
        review = _locked_for(review, RETURNABLE, by)
        review.status = Status.REGENERATION_REQUESTED
        review.regeneration_note = note
        _decide(review, ReviewDecision.Decision.REGENERATION_REQUESTED, by=by, note=note,
                action=ACTION_REGENERATION, extra={"note": note})
        try:
            generation_services.request_regeneration(review.item, note=note, by=by)
        except generation_services.JobError as error:
            raise ReviewError(error.message, code="ERR_REVIEW_STATE") from error
    return review


@dataclass
class BulkResult:
    approved: list[int] = field(default_factory=list)  # review ids
    skipped: dict[int, dict[str, str]] = field(default_factory=dict)  # id -> code, message

    @property
    def done(self) -> list[int]:
        return self.approved


def bulk_approve(reviews: Iterable[Review], *, by: User, role: str | None = None) -> BulkResult:
    """Approve clean items at once. Items that need a compliance check, near-duplicates,
    items the four-eyes rule keeps from `by`, and items not pending are skipped, each with
    its reason."""
    result = BulkResult()
    reviews = list(reviews)
    if reviews:
        _require_reviewer(reviews[0].tenant, by, role)
    for review in reviews:
        with transaction.atomic():
            locked = _locked(review)
            refusal = _bulk_refusal(locked, by)
            if refusal is not None:
                result.skipped[locked.pk] = {"code": refusal.code, "message": refusal.message}
                continue
            locked.status = Status.APPROVED
            _decide(locked, ReviewDecision.Decision.APPROVED, by=by, note="",
                    action=ACTION_APPROVED, extra={"bulk": True})
            result.approved.append(locked.pk)
    return result


def _bulk_refusal(review: Review, by: User) -> ReviewError | None:
    if review.item.needs_human_check:
        return ReviewError(_("Flagged for a person's check (compliance filter or quality "
                             "gates): approve it one by one."), code="ERR_REVIEW_NEEDS_CHECK")
    if review.is_near_duplicate:
        return ReviewError(_("Nearly the same as another product's text in this store: "
                             "check it one by one."), code="ERR_REVIEW_NEAR_DUPLICATE")
    try:
        _state_refusal(review, APPROVABLE)
    except ReviewError as error:
        return error
    return _check_refusal(review) or _four_eyes_refusal(review, by)


# Notifications -----------------------------------------------------------------------------

def reviewer_emails(tenant: Tenant) -> list[str]:
    roles = [role for role in TenantRole
             if tenant_role_allows(role, True, TenantPermission.REVIEW)]
    return sorted(Membership.unscoped.filter(tenant=tenant, role__in=roles, user__is_active=True)
                  .values_list("user__email", flat=True))


def notify_reviewers_if_job_ready(tenant_id: int, job_id: int) -> None:
    """Once no item of the job is in flight, e-mail the reviewers (once per job). The
    generation pipeline calls this when a job's last item has ended, however it ended."""
    try:
        in_flight = (GenerationItem.unscoped.filter(job_id=job_id)
                     .exclude(status__in=GenerationItem.FINAL).exists())
        if not in_flight:
            job = GenerationJob.unscoped.select_related("tenant", "store").get(pk=job_id)
            notify_reviewers(job)
    except Exception:  # a mail server outage must not fail the pipeline
        logger.exception("Review notice for job %s failed", job_id)


def notify_reviewers(job: GenerationJob) -> bool:
    """E-mail the tenant's reviewers that the job's items wait for review. Once per job;
    returns whether this call sent it. Nothing is sent when no item waits."""
    waiting = Review.unscoped.filter(job=job, status=Status.PENDING).count()
    if not waiting:
        return False
    tenant = job.tenant
    recipients = reviewer_emails(tenant)
    with transaction.atomic():
        notice, created = ReviewNotice.unscoped.get_or_create(
            job=job, defaults={"tenant": tenant, "recipients": recipients})
        if not created:
            return False
        if recipients:
            subject, body = _notice_text(job, waiting)
            transaction.on_commit(lambda: send_mail(subject, body, None, recipients))
    return True


def _notice_text(job: GenerationJob, waiting: int) -> tuple[str, str]:
    from django.urls import reverse

    link = settings.SITE_URL.rstrip("/") + reverse("review") + f"?job={job.pk}"
    bodies = []
    for language in ("zh-hans", "en"):  # most sellers read Chinese first
        with translation.override(language):
            bodies.append(_(
                "%(count)s AI-generated items of job #%(job)s for %(store)s wait for review.\n"
                "Every text must be checked by a person before it is published.\n\n"
                "Open the review queue: %(link)s") % {
                "count": waiting, "job": job.pk, "store": job.store.display_name, "link": link})
    with translation.override("zh-hans"):
        subject = f"[{_('Listing AI')}] " + _("%(count)s items wait for review (job #%(job)s)") % {
            "count": waiting, "job": job.pk}
    return subject, "\n\n----\n\n".join(bodies)
