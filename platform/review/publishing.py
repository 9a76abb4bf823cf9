"""Publishing approved items to the marketplace with the AI-assisted flag.

- `queue_publication(reviews, by=...)` checks each item and its store, marks the publishable
  ones as queued and enqueues, after commit, one Celery task per store and batch of
  BATCH_SIZE items (`review.tasks.publish_batch_task`).
- `publish_batch(store, review_ids)` (the task's body) sends each item through the
  connector's partial update, one request per item, within the store's request budget and the
  app's rate limit (both enforced by the connector).
- `recover_stalled_publications()` (housekeeping, django-q2 every minute) sends again the
  queued items that no live attempt holds.

Publishing always ends (publish recovery). A publish task first claims its items
(`publish_claim`, a random token) with a lease (`publish_lease_expires_at`, now +
PUBLISH_LEASE_SECONDS, renewed before each item: the batch's heartbeat); a queued item nobody
has claimed yet has a lease of PUBLISH_DISPATCH_LEASE_SECONDS. Row locks are held only for the
short transactions around each step, never during an HTTP call, so a worker killed mid-call
leaves committed, readable state behind:
  1. claim (attempts + 1);
  2. if an earlier attempt marked a write as sent (`publish_write_sent_at`) and did not end,
     read the listing (goods detail, in the item's language): if it shows exactly the fields
     this update would send, the earlier write landed: record it as published (audit:
     `confirmed_by_reading_listing`), send nothing; if the listing cannot be read, fail with
     ERR_PUBLISH_UNCONFIRMED and keep the mark (the next attempt reads again);
  3. our compliance filter again and the marketplace's own check (below);
  4. mark the write as sent (committed, and only while the claim is still ours: an attempt
     whose lease was taken over stops here), then send it;
  5. record the end. A failure with no answer (ERR_MARKETPLACE_UNAVAILABLE: timeout, reset,
     unreadable answer) may still have landed: the listing is read at once, and the item is
     published if it shows the text, else failed with the code. A refusal by the gateway
     (403, expired token, ...) is failed with its code and clears the mark.
Housekeeping takes over items whose lease ran out (the worker died, the message was lost):
it clears the claim and enqueues them again, at most MAX_TAKEOVERS times per publish request
(then the item fails with ERR_PUBLISH_STALLED, its write still marked if one was in doubt); a
person publishing a stalled item again does the same instead of being told "already queued". A
live attempt (lease not over) is left alone, and a duplicate or redelivered task finds its
items held or ended and does nothing. The lease must
outlast one item's worst case (timeout x rate-limit retries); if it did not, a slow attempt
that lost its claim still records a confirmed publication, never a failure over the new one.

The pre-publish check. Before a text is sent, our compliance filter runs again (the ISV's and
the tenant's banned words may have changed since approval) and the marketplace is asked too:
Temu through its own check (`temu.local.goods.illegal.vocabulary.check` with goodsName,
goodsDesc, bulletPoints; search terms are not among its fields), AliExpress, which has no
separate check, by its content rules applied to the edit itself (refused with its findings).
Both answers are recorded on the item (`publish_check`). What either refuses is not published:
the item goes back to *waiting for review* with ERR_CONTENT_REJECTED (ours) or
ERR_MARKETPLACE_CONTENT_REJECTED (the marketplace's) and the findings, which the reviewer sees
translated (`selectors.check_findings`); approving the same text unchanged is refused.

The AI-assisted flag: every update is sent with `ai_assisted=True`. There is no parameter to
turn it off: marketplace policy, and a missing flag costs the seller credit points.

What each content kind becomes (`content_update_for`):
    title            -> title
    bullet_points    -> bullet_points
    search_terms     -> search_terms
    detail_modules   -> description (each module as its heading, a line break and its body,
                        modules separated by a blank line)
    image_description, video_script, livestream_script -> not published: they are for the
                        seller (the content update has no alt-text field, and writing an image
                        description into the listing's description would replace the real
                        one); they are reviewed like the rest and refused here with
                        ERR_REVIEW_NOT_PUBLISHED_KIND.

The store's state comes first: a store that is revoked or not authorized, whose token has
expired, whose IP whitelist misses our servers, or whose authorization lacks permission
(ERR_TEMU_403) gets no marketplace call at all; its items are refused (when queuing) or fail
(in the task) with the store's error code, meaning and remedy. A marketplace error while
publishing is recorded on the item with its code and moves the store to the matching state
(stores.services.apply_marketplace_error); after a store-level error (403, expired token, IP)
the rest of the batch fails with the same code without further calls. Failed items can be
queued again once the cause is fixed.

AI share: at publish time, the published text and the AI output are compared word by word
(their plain text as `as_plain_text` gives it, split on whitespace) with difflib's
SequenceMatcher (autojunk off); the share is the number of words in matching blocks divided
by the number of words published: 1 for an unedited text, lower the more the reviewer
rewrote.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from difflib import SequenceMatcher
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import record
from generation import compliance
from generation.content import ContentKind, as_plain_text
from marketplaces.connectors import ContentCheck, ContentUpdate, MarketplaceError
from portal.error_codes import explain
from review.models import Review
from review.services import (
    ACTION_PUBLISH_FAILED,
    ACTION_PUBLISH_QUEUED,
    ACTION_PUBLISHED,
    SELLER_KINDS,
    ReviewError,
    _details,
    banned_terms_for,
    review_target,
)
from stores import services as store_services
from stores.models import Store
from tenants.models import Membership, Tenant, User
from tenants.roles import TenantPermission, tenant_role_allows

logger = logging.getLogger(__name__)

Status = Review.Status
BATCH_SIZE = 20

PUBLISHABLE_STATUSES = (Status.APPROVED, Status.EDITED_APPROVED, Status.PUBLISH_FAILED)
# Marketplace errors about the store rather than the item: the rest of the batch stops.
STORE_ERRORS = frozenset({"ERR_TEMU_403", store_services.TOKEN_EXPIRED, "ERR_IP_NOT_WHITELISTED",
                          "ERR_REVIEW_STORE_NOT_CONNECTED"})
NOT_CONNECTED = "ERR_REVIEW_STORE_NOT_CONNECTED"
UNEXPECTED = "ERR_MARKETPLACE_UNAVAILABLE"
MARKETPLACE_REJECTED = "ERR_MARKETPLACE_CONTENT_REJECTED"
PUBLISH_UNCONFIRMED = "ERR_PUBLISH_UNCONFIRMED"
PUBLISH_STALLED = "ERR_PUBLISH_STALLED"
# Housekeeping takes an item over at most this often per publish request, then fails it.
MAX_TAKEOVERS = 5
# Failures after which a sent write may still have landed (no answer, or one we could not
# read): the listing is read to find out.
UNKNOWN_OUTCOME = frozenset({"ERR_MARKETPLACE_UNAVAILABLE"})


# What is sent ------------------------------------------------------------------------------

def is_publishable_kind(kind: str) -> bool:
    return kind not in SELLER_KINDS


def content_update_for(kind: str, language: str, content: dict[str, Any]) -> ContentUpdate:
    """The partial update for one item's content. Always flagged as AI-assisted."""
    if kind == ContentKind.TITLE:
        return ContentUpdate(language=language, title=content["title"])
    if kind == ContentKind.BULLET_POINTS:
        return ContentUpdate(language=language, bullet_points=list(content["bullet_points"]))
    if kind == ContentKind.SEARCH_TERMS:
        return ContentUpdate(language=language, search_terms=list(content["search_terms"]))
    if kind == ContentKind.DETAIL_MODULES:
        text = "\n\n".join(f"{module['heading']}\n{module['body']}"
                           for module in content["modules"])
        return ContentUpdate(language=language, description=text)
    raise ReviewError(explain("ERR_REVIEW_NOT_PUBLISHED_KIND"),
                      code="ERR_REVIEW_NOT_PUBLISHED_KIND")


def ai_share(kind: str, ai_content: dict[str, Any], published: dict[str, Any]) -> Decimal:
    """Share of the published words that stand unchanged from the AI output (0..1)."""
    ai_words = as_plain_text(kind, ai_content or {}).split()
    published_words = as_plain_text(kind, published or {}).split()
    if not published_words:
        return Decimal(0)
    matcher = SequenceMatcher(None, ai_words, published_words, autojunk=False)
    same = sum(block.size for block in matcher.get_matching_blocks())
    return (Decimal(same) / Decimal(len(published_words))).quantize(Decimal("0.0001"))


# The store's state -------------------------------------------------------------------------

def store_refusal(store: Store) -> str | None:
    """The error code that keeps this store from publishing now, or None."""
    if store.status in (Store.Status.REVOKED, Store.Status.AWAITING_AUTHORIZATION) \
            or not store.access_token:
        return NOT_CONNECTED
    if store.status == Store.Status.TOKEN_EXPIRED or (
            store.token_expires_at is not None and store.token_expires_at <= timezone.now()):
        return store_services.TOKEN_EXPIRED
    if store.status == Store.Status.IP_NOT_WHITELISTED:
        return "ERR_IP_NOT_WHITELISTED"
    if store.status == Store.Status.PERMISSION_DENIED:
        return "ERR_TEMU_403"
    return None


# Queuing -----------------------------------------------------------------------------------

@dataclass
class PublishResult:
    queued: list[int] = field(default_factory=list)  # review ids
    skipped: dict[int, dict[str, str]] = field(default_factory=dict)  # id -> code, message
    batches: int = 0

    @property
    def done(self) -> list[int]:
        return self.queued


def may_publish(tenant: Tenant, role: str | None) -> bool:
    return role is not None and tenant_role_allows(role, tenant.is_active,
                                                   TenantPermission.PUBLISH)


def queue_publication(reviews: Iterable[Review], *, by: User,
                      role: str | None = None) -> PublishResult:
    """Queue approved (or failed) listing items for publishing; each refused item is listed
    in `skipped` with its code and message. Tasks are enqueued when the transaction
    commits."""
    result = PublishResult()
    reviews = list(reviews)
    if not reviews:
        return result
    tenant = reviews[0].tenant
    if role is None:
        role = (Membership.unscoped.filter(tenant=tenant, user=by)
                .values_list("role", flat=True).first())
    if not may_publish(tenant, role):
        raise ReviewError(_("Your role does not allow publishing."),
                          code="ERR_REVIEW_NOT_ALLOWED")
    by_store: dict[int, list[int]] = defaultdict(list)
    now = timezone.now()
    with transaction.atomic():
        for review in reviews:
            locked = (Review.unscoped.select_for_update(of=("self",))
                      .select_related("item", "store", "tenant").get(pk=review.pk))
            code = _queue_refusal(locked)
            if code is not None:
                result.skipped[locked.pk] = {"code": code, "message": _skip_message(code, locked)}
                continue
            locked.publish_pending = True
            locked.publish_queued_at = now
            locked.publish_queued_by = by
            locked.publish_claim = ""  # no attempt yet (or a dead one's, taken over)
            locked.publish_lease_expires_at = now + _dispatch_lease()
            locked.publish_takeovers = 0
            locked.save(update_fields=["publish_pending", "publish_queued_at",
                                       "publish_queued_by", "publish_claim",
                                       "publish_lease_expires_at", "publish_takeovers",
                                       "updated_at"])
            record(ACTION_PUBLISH_QUEUED, tenant=locked.tenant, actor=by,
                   target=review_target(locked.item), details=_details(locked))
            by_store[locked.store_id].append(locked.pk)
            result.queued.append(locked.pk)
        for store_id, ids in by_store.items():
            for start in range(0, len(ids), BATCH_SIZE):
                _enqueue(tenant.pk, store_id, ids[start:start + BATCH_SIZE])
                result.batches += 1
    return result


def _enqueue(tenant_id: int, store_id: int, review_ids: list[int]) -> None:
    from review.tasks import publish_batch_task

    publish_batch_task.delay_on_commit(tenant_id, store_id, review_ids)


def _queue_refusal(review: Review) -> str | None:
    if review.destination == Review.Destination.SELLER or not is_publishable_kind(
            review.item.kind):
        return "ERR_REVIEW_NOT_PUBLISHED_KIND"
    if review.status not in PUBLISHABLE_STATUSES or (review.publish_pending
                                                     and not is_stalled(review)):
        return "ERR_REVIEW_STATE"
    return store_refusal(review.store)


def is_stalled(review: Review, now: datetime | None = None) -> bool:
    """Queued, but its attempt's lease (or the wait for a worker) has run out: whoever asks
    next (housekeeping, or a person publishing again) takes it over."""
    now = now or timezone.now()
    if not review.publish_pending:
        return False
    if review.publish_lease_expires_at is None:  # queued before leases existed
        return review.publish_queued_at is None or \
            review.publish_queued_at + _dispatch_lease() < now
    return review.publish_lease_expires_at < now


def _dispatch_lease() -> timedelta:
    return timedelta(seconds=settings.PUBLISH_DISPATCH_LEASE_SECONDS)


# Housekeeping ------------------------------------------------------------------------------

def recover_stalled_publications(now: datetime | None = None) -> int:
    """Housekeeping (every minute, django-q2): queued items whose attempt's lease ran out (its
    worker died, or its message was lost) are sent to a worker again, per store and batch.
    The new attempt reads the listing before it sends anything an earlier one may have sent.
    Returns how many items were sent again."""
    now = now or timezone.now()
    stalled = (Review.unscoped.filter(publish_pending=True)
               .filter(Q(publish_lease_expires_at__lt=now)
                       | Q(publish_lease_expires_at__isnull=True,
                           publish_queued_at__lt=now - _dispatch_lease())
                       | Q(publish_lease_expires_at__isnull=True,
                           publish_queued_at__isnull=True))
               .order_by("tenant_id", "store_id", "id")
               .values_list("tenant_id", "store_id", "id"))
    by_store: dict[tuple[int, int], list[int]] = defaultdict(list)
    for tenant_id, store_id, review_id in stalled:
        by_store[(tenant_id, store_id)].append(review_id)
    recovered = 0
    for (tenant_id, store_id), ids in by_store.items():
        with transaction.atomic():
            # Only those still stalled under the lock (a worker may have just ended them).
            taken = list(Review.unscoped.select_for_update(skip_locked=True)
                         .filter(pk__in=ids, publish_pending=True)
                         .filter(Q(publish_lease_expires_at__lt=now)
                                 | Q(publish_lease_expires_at__isnull=True))
                         .values_list("pk", flat=True))
            if not taken:
                continue
            given_up = _give_up(taken)
            taken = [pk for pk in taken if pk not in given_up]
            Review.unscoped.filter(pk__in=taken).update(
                publish_claim="", publish_lease_expires_at=now + _dispatch_lease(),
                publish_takeovers=F("publish_takeovers") + 1, updated_at=now)
            for start in range(0, len(taken), BATCH_SIZE):
                _enqueue(tenant_id, store_id, taken[start:start + BATCH_SIZE])
            recovered += len(taken)
    if recovered:
        logger.warning("Publishing: %d queued items had no live attempt; sent again",
                       recovered)
    return recovered


def _give_up(review_ids: list[int]) -> set[int]:
    """Items taken over MAX_TAKEOVERS times already (each attempt's worker ended while it
    held them: perhaps the item itself ends them) fail with ERR_PUBLISH_STALLED. A write in
    doubt stays marked, so publishing again reads the listing first."""
    ended: set[int] = set()
    for review in (Review.unscoped.select_for_update(of=("self",))
                   .select_related("item", "tenant")
                   .filter(pk__in=review_ids, publish_takeovers__gte=MAX_TAKEOVERS)):
        _failed(review, PUBLISH_STALLED, explain(PUBLISH_STALLED))
        ended.add(review.pk)
    if ended:
        logger.error("Publishing: gave up on %d items after %d takeovers each: %s",
                     len(ended), MAX_TAKEOVERS, sorted(ended))
    return ended


def _skip_message(code: str, review: Review) -> str:
    if code == "ERR_REVIEW_STATE":
        if review.publish_pending:
            return _("Already queued for publishing.")
        if review.status == Status.PUBLISHED:
            return _("Already published.")
        return _("Only approved items are published; this one is “%(status)s”.") % {
            "status": review.get_status_display()}
    return explain(code)


# The task's body ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    review_id: int
    status: str
    error_code: str = ""


@dataclass
class _Attempt:
    """One item being published by this task (read under its row lock when it was claimed)."""

    review_id: int
    kind: str
    language: str
    marketplace_id: str
    content: dict[str, Any]
    in_doubt: bool  # an earlier attempt sent a write whose outcome is not known


def publish_batch(store: Store, review_ids: list[int]) -> list[Outcome]:
    """Publish the queued items of one store (runs in the tenant's scope).

    The task first claims the items that are still queued and not held by a live attempt
    (`publish_claim`, with a lease of PUBLISH_LEASE_SECONDS renewed after each item). For each
    item: an earlier attempt's write in doubt is settled by reading the listing; then our
    compliance filter and the marketplace's own check; then the write, marked in the database
    before it is sent (`publish_write_sent_at`), so that whoever takes over after a crash
    knows to read the listing before sending again."""
    store = Store.unscoped.get(pk=store.pk)
    if store_refusal(store) == store_services.TOKEN_EXPIRED \
            and store.status != Store.Status.TOKEN_EXPIRED:
        store_services.refresh_health(store)  # the store's page follows
    refused = store_refusal(store)
    refused_message = explain(refused) if refused else ""
    connector = store_services.connector_for_store(store) if refused is None else None
    claim = uuid.uuid4().hex
    mine = _claim(store, review_ids, claim)
    outcomes: list[Outcome] = []
    for position, review_id in enumerate(review_ids):
        if review_id not in mine:
            continue  # done by an earlier delivery, withdrawn, or held by a live attempt
        _renew_lease(claim, [pk for pk in review_ids[position:] if pk in mine])
        if refused is not None:  # the store cannot publish: no marketplace call
            outcome = _finish(review_id, claim, _failed_with(refused, refused_message,
                                                             counts_attempt=True))
        else:
            try:
                outcome, store_error = _publish_one(store, connector, review_id, claim)
            except Exception:  # a bug must not leave the item queued (and retried) for ever
                logger.exception("Publishing review %s failed unexpectedly", review_id)
                outcome, store_error = _finish(review_id, claim, _failed_with(
                    UNEXPECTED, explain(UNEXPECTED), keep_in_doubt=True)), None
            if store_error is not None:
                refused, refused_message = store_error, explain(store_error)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _claim(store: Store, review_ids: list[int], claim: str) -> set[int]:
    """Take the batch's items that are queued and free (never claimed, or their lease ran
    out); the others belong to a live attempt or are done."""
    now = timezone.now()
    with transaction.atomic():
        free = (Review.unscoped.select_for_update(of=("self",))
                .filter(pk__in=review_ids, store=store, publish_pending=True)
                .filter(Q(publish_claim="") | Q(publish_lease_expires_at__lt=now)
                        | Q(publish_lease_expires_at__isnull=True))
                .order_by("pk").values_list("pk", flat=True))
        ids = set(free)
        Review.unscoped.filter(pk__in=ids).update(
            publish_claim=claim, publish_lease_expires_at=now + _lease(), updated_at=now)
    return ids


def _renew_lease(claim: str, review_ids: list[int]) -> None:
    """The batch's heartbeat: the items still ahead stay ours for another lease."""
    Review.unscoped.filter(pk__in=review_ids, publish_claim=claim, publish_pending=True
                           ).update(publish_lease_expires_at=timezone.now() + _lease())


def _lease() -> timedelta:
    return timedelta(seconds=settings.PUBLISH_LEASE_SECONDS)


def _publish_one(store: Store, connector: Any, review_id: int, claim: str
                 ) -> tuple[Outcome | None, str | None]:
    """One item; returns its outcome (None: another attempt has it) and a store-level error
    code that stops the rest of the batch."""
    with transaction.atomic():
        review = _locked_claimed(review_id, claim)
        if review is None:
            return None, None
        review.publish_attempts += 1
        review.save(update_fields=["publish_attempts", "updated_at"])
        attempt = _Attempt(review.pk, review.item.kind, review.item.language,
                           review.item.product.marketplace_id, review.current_content,
                           in_doubt=review.publish_write_sent_at is not None)
        ours = _our_findings(review, attempt.content)
    try:
        update = content_update_for(attempt.kind, attempt.language, attempt.content)
    except ReviewError as error:
        return _finish(review_id, claim, _failed_with(error.code, error.message)), None
    try:
        if attempt.in_doubt:  # an earlier write may have landed: the listing says
            try:
                if _landed(connector, attempt, update):
                    return _finish(review_id, claim, _published_with(
                        attempt.content, "", confirmed=True), even_if_taken_over=True), None
            except MarketplaceError as error:
                return _marketplace_failure(store, review_id, claim, error,
                                            PUBLISH_UNCONFIRMED, keep_in_doubt=True)
        check = connector.check_content(attempt.marketplace_id, update)
    except MarketplaceError as error:
        return _marketplace_failure(store, review_id, claim, error, error.code,
                                    keep_in_doubt=False)
    except Exception:  # a bug must not leave the item queued for ever
        logger.exception("Publishing review %s failed unexpectedly", review_id)
        return _finish(review_id, claim, _failed_with(UNEXPECTED, explain(UNEXPECTED),
                                                      keep_in_doubt=attempt.in_doubt)), None
    record_check = _check_record(store, attempt.content, ours, check)
    if ours or check.findings:
        code = MARKETPLACE_REJECTED if check.findings else "ERR_CONTENT_REJECTED"
        return _finish(review_id, claim, _back_to_review(code, record_check)), None
    if not _mark_sent(review_id, claim, record_check):
        return None, None  # the lease was lost: the attempt that took over goes on
    try:
        request_id = connector.update_content(attempt.marketplace_id, update)
    except MarketplaceError as error:
        if error.code == MARKETPLACE_REJECTED:  # the marketplace's rules, applied on writing
            record_check["marketplace"]["findings"] = [f.as_json() for f in error.findings]
            record_check["marketplace"]["request_id"] = error.request_id
            record_check["passed"] = False
            return _finish(review_id, claim, _back_to_review(MARKETPLACE_REJECTED,
                                                             record_check)), None
        if error.code in UNKNOWN_OUTCOME:  # it may have landed: ask the listing
            try:
                if _landed(connector, attempt, update):
                    return _finish(review_id, claim, _published_with(
                        attempt.content, error.request_id, confirmed=True),
                        even_if_taken_over=True), None
            except MarketplaceError:
                return _marketplace_failure(store, review_id, claim, error,
                                            PUBLISH_UNCONFIRMED, keep_in_doubt=True)
        return _marketplace_failure(store, review_id, claim, error, error.code,
                                    keep_in_doubt=False)
    except Exception:
        logger.exception("Publishing review %s failed unexpectedly", review_id)
        return _finish(review_id, claim, _failed_with(UNEXPECTED, explain(UNEXPECTED),
                                                      keep_in_doubt=True)), None
    return _finish(review_id, claim, _published_with(attempt.content, request_id),
                   even_if_taken_over=True), None


def _locked_claimed(review_id: int, claim: str) -> Review | None:
    return (Review.unscoped.select_for_update(of=("self",))
            .select_related("item", "item__product", "store", "tenant")
            .filter(pk=review_id, publish_pending=True, publish_claim=claim).first())


def _landed(connector: Any, attempt: _Attempt, update: ContentUpdate) -> bool:
    """Whether the listing shows exactly this update's fields now (an earlier write landed)."""
    goods = connector.goods_detail(attempt.marketplace_id, attempt.language)
    shown = {"title": goods.title, "bullet_points": list(goods.bullet_points),
             "description": goods.description, "search_terms": list(goods.search_terms)}
    sent = {name: value for name, value in (
        ("title", update.title), ("bullet_points", update.bullet_points),
        ("description", update.description), ("search_terms", update.search_terms))
        if value is not None}
    return all(shown[name] == value for name, value in sent.items())


def _our_findings(review: Review, content: dict[str, Any]) -> list[dict[str, Any]]:
    """Our compliance filter again, on the text about to be published (the banned-word lists
    may have changed since it was generated or approved)."""
    violations = compliance.find_violations(
        review.item.kind, content, marketplace=review.store.site.marketplace.value,
        banned_terms=banned_terms_for(review))
    return [{"field": v.path, "rule": v.rule, "term": v.term, "matched": v.matched,
             "length": v.length, "limit": v.limit} for v in violations]


def _check_record(store: Store, content: dict[str, Any], ours: list[dict[str, Any]],
                  check: ContentCheck) -> dict[str, Any]:
    return {"checked_at": timezone.now().isoformat(), "content": content, "ours": ours,
            "marketplace": {"name": store.site.marketplace.value, "offered": check.offered,
                            "request_id": check.request_id,
                            "findings": [finding.as_json() for finding in check.findings]},
            "passed": not ours and check.passed}


def _mark_sent(review_id: int, claim: str, check: dict[str, Any]) -> bool:
    """Write ahead: the update is about to be sent (committed before it is)."""
    with transaction.atomic():
        review = _locked_claimed(review_id, claim)
        if review is None:
            return False
        review.publish_write_sent_at = timezone.now()
        review.publish_check = check
        review.save(update_fields=["publish_write_sent_at", "publish_check", "updated_at"])
    return True


def _marketplace_failure(store: Store, review_id: int, claim: str, error: MarketplaceError,
                         code: str, *, keep_in_doubt: bool) -> tuple[Outcome | None, str | None]:
    message = explain(code) if code == PUBLISH_UNCONFIRMED else (error.message
                                                                  or explain(error.code))
    outcome = _finish(review_id, claim, _failed_with(code, message, request_id=error.request_id,
                                                     keep_in_doubt=keep_in_doubt))
    store_services.apply_marketplace_error(store, error)
    return outcome, (error.code if error.code in STORE_ERRORS else None)


def _finish(review_id: int, claim: str, apply: Callable[[Review], None], *,
            even_if_taken_over: bool = False) -> Outcome | None:
    """Record the attempt's end, unless the item has ended already (another attempt), or
    another attempt holds it now and this one has no fact to tell (`even_if_taken_over`: the
    marketplace confirmed the write, which is true whoever records it)."""
    with transaction.atomic():
        review = (Review.unscoped.select_for_update(of=("self",))
                  .select_related("item", "item__product", "store", "tenant")
                  .filter(pk=review_id, publish_pending=True).first())
        if review is None:
            return None
        held_by_other = review.publish_claim != claim and (
            review.publish_lease_expires_at is None
            or review.publish_lease_expires_at > timezone.now())
        if held_by_other and not even_if_taken_over:
            return None  # taken over: the live attempt records the end
        apply(review)
        return Outcome(review.pk, review.status, review.publish_error_code)


def _failed_with(code: str, message: str, *, request_id: str = "",
                 keep_in_doubt: bool = False, counts_attempt: bool = False
                 ) -> Callable[[Review], None]:
    def failed(review: Review) -> None:
        if counts_attempt:
            review.publish_attempts += 1
        if request_id:
            review.publish_request_id = request_id[:120]
        if not keep_in_doubt:
            review.publish_write_sent_at = None
        _failed(review, code, message)
    return failed


def _published_with(content: dict[str, Any], request_id: str, *, confirmed: bool = False
                    ) -> Callable[[Review], None]:
    def published(review: Review) -> None:
        _published(review, content, request_id, confirmed=confirmed)
    return published


def _back_to_review(code: str, check: dict[str, Any]) -> Callable[[Review], None]:
    """Not published: the item waits for a reviewer again, with the findings."""
    def returned(review: Review) -> None:
        review.status = Status.PENDING
        _end_attempt(review)
        review.publish_write_sent_at = None
        review.publish_error_code = code
        review.publish_error_message = explain(code)
        review.publish_check = check
        review.save()
        record(ACTION_PUBLISH_FAILED, tenant=review.tenant, actor=None,
               target=review_target(review.item),
               details=_details(review, error_code=code, attempt=review.publish_attempts,
                                returned_to_review=True, ours=check["ours"],
                                marketplace=check["marketplace"]))
    return returned


def _end_attempt(review: Review) -> None:
    review.publish_pending = False
    review.publish_claim = ""
    review.publish_lease_expires_at = None


def _failed(review: Review, code: str, message: str) -> None:
    review.status = Status.PUBLISH_FAILED
    _end_attempt(review)
    review.publish_error_code = code
    review.publish_error_message = message
    review.save()
    record(ACTION_PUBLISH_FAILED, tenant=review.tenant, actor=None,
           target=review_target(review.item),
           details=_details(review, error_code=code, request_id=review.publish_request_id,
                            attempt=review.publish_attempts))


def _published(review: Review, content: dict[str, Any], request_id: str, *,
               confirmed: bool = False) -> None:
    """`confirmed`: the listing was read and shows this content (an earlier write landed)."""
    review.status = Status.PUBLISHED
    _end_attempt(review)
    review.publish_write_sent_at = None
    review.published_at = timezone.now()
    review.publish_request_id = (request_id or "")[:120]
    review.publish_error_code = review.publish_error_message = ""
    review.published_content = content
    review.ai_share = ai_share(review.item.kind, review.ai_content, content)
    review.save()
    record(ACTION_PUBLISHED, tenant=review.tenant, actor=review.publish_queued_by,
           target=review_target(review.item),
           details=_details(review, request_id=review.publish_request_id, ai_assisted=True,
                            ai_share=str(review.ai_share), attempt=review.publish_attempts,
                            confirmed_by_reading_listing=confirmed,
                            check=_check_summary(review.publish_check)))


def _check_summary(check: dict[str, Any] | None) -> dict[str, Any] | None:
    """For the audit trail: whether the marketplace's own check was asked, its request id."""
    if not check:
        return None
    marketplace = check.get("marketplace") or {}
    return {"passed": check.get("passed"), "marketplace": marketplace.get("name"),
            "marketplace_check_offered": marketplace.get("offered"),
            "marketplace_request_id": marketplace.get("request_id")}
