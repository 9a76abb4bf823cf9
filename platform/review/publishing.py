"""Publishing approved items to the marketplace with the AI-assisted flag.

- `queue_publication(reviews, by=...)` checks each item and its store, marks the publishable
  ones as queued and enqueues, after commit, one Celery task per store and batch of
  BATCH_SIZE items (`review.tasks.publish_batch_task`).
- `publish_batch(store, review_ids)` (the task's body) sends each item through the
  connector's partial update, one request per item, within the store's request budget and the
  app's rate limit (both enforced by the connector). Idempotent: an item is published only
  while it is still queued (`publish_pending`), under a row lock, so a redelivered or
  duplicated task does nothing twice.

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
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from difflib import SequenceMatcher
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import record
from generation.content import ContentKind, as_plain_text
from marketplaces.connectors import ContentUpdate, MarketplaceError
from portal.error_codes import explain
from review.models import Review
from review.services import (
    ACTION_PUBLISH_FAILED,
    ACTION_PUBLISH_QUEUED,
    ACTION_PUBLISHED,
    SELLER_KINDS,
    ReviewError,
    _details,
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
    return role is not None and (
        tenant_role_allows(role, tenant.is_active, TenantPermission.REVIEW)
        or tenant_role_allows(role, tenant.is_active, TenantPermission.START_WORK))


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
            locked.save(update_fields=["publish_pending", "publish_queued_at",
                                       "publish_queued_by", "updated_at"])
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
    if review.status not in PUBLISHABLE_STATUSES or review.publish_pending:
        return "ERR_REVIEW_STATE"
    return store_refusal(review.store)


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


def publish_batch(store: Store, review_ids: list[int]) -> list[Outcome]:
    """Publish the queued items of one store (runs in the tenant's scope)."""
    store = Store.unscoped.get(pk=store.pk)
    if store_refusal(store) == store_services.TOKEN_EXPIRED \
            and store.status != Store.Status.TOKEN_EXPIRED:
        store_services.refresh_health(store)  # the store's page follows
    refused = store_refusal(store)
    refused_message = explain(refused) if refused else ""
    connector = store_services.connector_for_store(store) if refused is None else None
    outcomes: list[Outcome] = []
    for review_id in review_ids:
        with transaction.atomic():
            review = (Review.unscoped.select_for_update(of=("self",))
                      .select_related("item", "item__product", "tenant")
                      .filter(pk=review_id, store=store).first())
            if review is None or not review.publish_pending:
                continue  # done by an earlier delivery, or withdrawn
            review.publish_attempts += 1
            if refused is not None:
                _failed(review, refused, refused_message)
                outcomes.append(Outcome(review.pk, review.status, refused))
                continue
            content = review.current_content
            try:
                update = content_update_for(review.item.kind, review.item.language, content)
                request_id = connector.update_content(review.item.product.marketplace_id,
                                                      update)
            except ReviewError as error:
                _failed(review, error.code, error.message)
            except MarketplaceError as error:
                review.publish_request_id = error.request_id[:120]
                _failed(review, error.code, error.message or explain(error.code))
                store_services.apply_marketplace_error(store, error)
                if error.code in STORE_ERRORS:
                    refused, refused_message = error.code, explain(error.code)
            except Exception:  # a bug must not leave the item queued for ever
                logger.exception("Publishing review %s failed unexpectedly", review.pk)
                _failed(review, UNEXPECTED, explain(UNEXPECTED))
            else:
                _published(review, content, request_id)
            outcomes.append(Outcome(review.pk, review.status, review.publish_error_code))
    return outcomes


def _failed(review: Review, code: str, message: str) -> None:
    review.status = Status.PUBLISH_FAILED
    review.publish_pending = False
    review.publish_error_code = code
    review.publish_error_message = message
    review.save()
    record(ACTION_PUBLISH_FAILED, tenant=review.tenant, actor=None,
           target=review_target(review.item),
           details=_details(review, error_code=code, request_id=review.publish_request_id,
                            attempt=review.publish_attempts))


def _published(review: Review, content: dict[str, Any], request_id: str) -> None:
    review.status = Status.PUBLISHED
    review.publish_pending = False
    review.published_at = timezone.now()
    review.publish_request_id = (request_id or "")[:120]
    review.publish_error_code = review.publish_error_message = ""
    review.published_content = content
    review.ai_share = ai_share(review.item.kind, review.ai_content, content)
    review.save()
    record(ACTION_PUBLISHED, tenant=review.tenant, actor=review.publish_queued_by,
           target=review_target(review.item),
           details=_details(review, request_id=review.publish_request_id, ai_assisted=True,
                            ai_share=str(review.ai_share), attempt=review.publish_attempts))
