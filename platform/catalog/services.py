"""Catalog sync: page through a store's goods on the marketplace and upsert them as Products.

- One sync per store at a time: claiming a run locks the store row, and the database allows
  one active (queued or running) SyncRun per store. A second request reports the active run.
- Each page is written in one transaction, together with the run's counters: a failure
  mid-sync leaves every completed page consistent and the counters exact, and a re-run (or a
  retry of the same run, which continues after its last completed page) creates no duplicates.
- Products are written set-based, one upsert per page (INSERT ... ON CONFLICT DO UPDATE);
  products whose content hash has not changed are counted as unchanged and not written.
- The pack's SKU limit is visible: SKUs beyond it are counted in `over_limit` and the run
  carries ERR_SKU_LIMIT, which the catalog page explains.

Call `sync_store` outside any transaction (a Celery task, a management command): its page
transactions must commit one by one for progress to be visible and work to be kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import quality
from catalog.models import Product, SyncRun
from catalog.signals import products_changed
from marketplaces.connectors import Goods, GoodsPage, MarketplaceError
from stores import services as store_services
from stores.models import Store
from tenants.models import User

logger = logging.getLogger(__name__)

PAGE_SIZE = 100  # the marketplaces' maximum page size
SKU_LIMIT_CODE = "ERR_SKU_LIMIT"
SYNC_FAILED_CODE = "ERR_SYNC_FAILED"

# A running run whose worker gave no sign of life for longer than a task may last (the hard
# time limit) was interrupted (worker killed); a queued one whose task never started for an
# hour lost its message. Either may be taken over.
RUNNING_STALE_AFTER = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
QUEUED_STALE_AFTER = timedelta(hours=1)

# Everything a re-sync may change; first_synced_at and the keys stay.
_UPDATE_FIELDS = [
    "sku", "title", "category", "description", "attributes", "parameters", "images",
    "bullet_points", "search_terms", "price", "currency", "content_hash",
    "attribute_word_count", "parameter_completeness", "main_image_width", "quality_flags",
    "last_synced_at",
]

# Store statuses from which a sync cannot work: there is no usable authorization.
_UNAUTHORIZED = {Store.Status.AWAITING_AUTHORIZATION, Store.Status.REVOKED}


class SyncNotPossible(Exception):
    """The store cannot be synced now (e.g. not authorized); the message is for people."""


@dataclass(frozen=True)
class PageResult:
    created: int
    updated: int
    unchanged: int


def sku_limit_for(store: Store) -> int:
    """How many SKUs of this store its pack covers: the SKU limit of the pack version of the
    store's subscription today (the priced one). A store without a usable subscription is
    synced up to SKU_LIMIT_PER_STORE, the standard pack's 5,000 by default."""
    from billing import quota  # billing builds on the catalog's apps: imported when used

    subscription = quota.current_subscription(store, quota.local_day(store.tenant))
    if subscription is not None:
        return subscription.pack_version.sku_limit
    return settings.SKU_LIMIT_PER_STORE


@dataclass(frozen=True)
class SyncRequest:
    run: SyncRun
    started: bool  # False: a sync of the store was already queued or running; this is it


def request_sync(store: Store, *, by: User | None) -> SyncRequest:
    """Queue a background sync of the store, or report the one already queued or running.

    Works inside the caller's transaction (a request): the task is sent once it commits.
    """
    from catalog.tasks import sync_store_task  # the task module imports this one

    if store.status in _UNAUTHORIZED or not store.access_token:
        raise SyncNotPossible(_("The store is not authorized yet: authorize it first, then "
                                "sync its products."))
    with transaction.atomic():
        run, created = _open_run(store, requested_by=by)
        if created:
            sync_store_task.delay_on_commit(store.tenant_id, store.pk, run.pk)
    return SyncRequest(run=run, started=created)


def sync_store(store: Store, *, requested_by: User | None = None, run: SyncRun | None = None,
               retry_allowed: bool = False) -> SyncRun:
    """Sync the store's goods now, in this process; returns the run.

    With `run` (a queued run, from the task), that run is carried out, continuing after its
    last completed page. Without, the store's active run is used, or a new one started. If
    another worker is running the store's sync, nothing is done and its run is returned.

    A marketplace error fails the run and puts the store in the matching state; when it is
    retryable and `retry_allowed`, the run is put back in the queue instead and the error
    raised, for the caller (the Celery task) to try again later.
    """
    run, claimed = _claim(store, run, requested_by)
    if not claimed:
        return run
    try:
        store_services.mark_syncing(store)  # refuses a store without a usable token
    except store_services.StoreError as error:
        _end_failed(run, error.code, error.message)
        return run
    connector = store_services.connector_for_store(store)
    limit = run.sku_limit if run.sku_limit is not None else sku_limit_for(store)
    page_number = run.pages + 1
    try:
        while True:
            page = connector.list_goods(page_number, PAGE_SIZE)
            room = max(0, limit - run.processed)
            _write_page(store, run, page, page.items[:room], limit)
            if not page.items or not page.has_more or run.processed >= limit:
                break
            page_number += 1
    except MarketplaceError as error:
        if error.retryable and retry_allowed:
            _requeue_for_retry(run, error)
            raise
        _fail(store, run, error)
        return run
    except Exception:
        logger.exception("Catalog sync of store %s (run %s) crashed", store.pk, run.pk)
        _fail(store, run, MarketplaceError(SYNC_FAILED_CODE, "unexpected error, logged"))
        raise
    _succeed(store, run)
    return run


# --------------------------------------------------------------------------------------------
# Claiming a run
# --------------------------------------------------------------------------------------------

def _is_stale(run: SyncRun, now: datetime) -> bool:
    last_sign = run.heartbeat_at or run.started_at
    window = RUNNING_STALE_AFTER if run.status == SyncRun.Status.RUNNING else QUEUED_STALE_AFTER
    return last_sign is not None and now - last_sign > window


def _lock_store(store: Store) -> None:
    """Serialise run bookkeeping per store (the row lock lasts until the transaction ends)."""
    Store.objects.select_for_update().filter(pk=store.pk).values_list("pk").first()


def _open_run(store: Store, *, requested_by: User | None) -> tuple[SyncRun, bool]:
    """The store's active run, or a new queued one. Call inside a transaction."""
    now = timezone.now()
    _lock_store(store)
    active = SyncRun.objects.filter(store=store, status__in=SyncRun.ACTIVE_STATUSES).first()
    if active is not None and _is_stale(active, now):
        logger.warning("Sync run %s of store %s was interrupted; starting a new one",
                       active.pk, store.pk)
        active.status = SyncRun.Status.FAILED
        active.error_code = SYNC_FAILED_CODE
        active.error_message = "Interrupted: the worker stopped without finishing."
        active.finished_at = now
        active.save(update_fields=["status", "error_code", "error_message", "finished_at"])
        active = None
    if active is not None:
        return active, False
    run = SyncRun.objects.create(tenant_id=store.tenant_id, store=store,
                                 requested_by=requested_by, status=SyncRun.Status.QUEUED,
                                 sku_limit=sku_limit_for(store), heartbeat_at=now)
    return run, True


def _claim(store: Store, run: SyncRun | None,
           requested_by: User | None) -> tuple[SyncRun, bool]:
    """Mark the run as running in this process. False: finished, or running elsewhere."""
    now = timezone.now()
    with transaction.atomic():
        if run is None:
            run, _created = _open_run(store, requested_by=requested_by)
        else:
            _lock_store(store)
            run = SyncRun.objects.get(pk=run.pk, store=store)
        if not run.is_active:
            return run, False
        if run.status == SyncRun.Status.RUNNING and not _is_stale(run, now):
            return run, False
        run.status = SyncRun.Status.RUNNING
        run.heartbeat_at = now
        if run.sku_limit is None:
            run.sku_limit = sku_limit_for(store)
        run.save(update_fields=["status", "heartbeat_at", "sku_limit"])
    return run, True


# --------------------------------------------------------------------------------------------
# Writing pages
# --------------------------------------------------------------------------------------------

def _product_row(store: Store, goods: Goods, digest: str, now: datetime) -> Product:
    report = quality.assess(goods)
    return Product(
        tenant_id=store.tenant_id, store=store, marketplace_id=goods.marketplace_id,
        sku=goods.sku, title=goods.title, category=goods.category,
        description=goods.description, attributes=dict(goods.attributes),
        parameters=dict(goods.parameters),
        images=[{"url": image.url, "width": image.width, "height": image.height,
                 "has_watermark": image.has_watermark, "has_text": image.has_text}
                for image in goods.images],
        bullet_points=list(goods.bullet_points), search_terms=list(goods.search_terms),
        price=goods.price, currency=goods.currency, content_hash=digest,
        attribute_word_count=report.attribute_word_count,
        parameter_completeness=report.parameter_completeness,
        main_image_width=report.main_image_width, quality_flags=report.flags,
        first_synced_at=now, last_synced_at=now,
    )


def _write_page(store: Store, run: SyncRun, page: GoodsPage, items: list[Goods],
                limit: int) -> PageResult:
    """Upsert one page's goods and count it on the run, in one transaction."""
    now = timezone.now()
    by_id = {goods.marketplace_id: goods for goods in items}  # a repeated id counts once
    digests = {goods_id: quality.content_hash(goods) for goods_id, goods in by_id.items()}
    with transaction.atomic():
        known = dict(Product.objects.filter(store=store, marketplace_id__in=list(by_id))
                     .values_list("marketplace_id", "content_hash"))
        rows = [_product_row(store, goods, digests[goods_id], now)
                for goods_id, goods in by_id.items() if known.get(goods_id) != digests[goods_id]]
        if rows:
            Product.objects.bulk_create(rows, update_conflicts=True,
                                        unique_fields=["store", "marketplace_id"],
                                        update_fields=_UPDATE_FIELDS)
        created = sum(1 for row in rows if row.marketplace_id not in known)
        changed_ids = [row.pk for row in rows if row.pk is not None]
        if changed_ids:  # e.g. the images app inspects their pictures
            transaction.on_commit(lambda: products_changed.send(
                sender=Product, store=store, product_ids=changed_ids))
        result = PageResult(created=created, updated=len(rows) - created,
                            unchanged=len(by_id) - len(rows))
        run.pages += 1
        run.total_reported = page.total
        run.created += result.created
        run.updated += result.updated
        run.unchanged += result.unchanged
        run.over_limit = max(0, page.total - limit)
        run.heartbeat_at = now
        run.save(update_fields=["pages", "total_reported", "created", "updated", "unchanged",
                                "over_limit", "heartbeat_at"])
    return result


# --------------------------------------------------------------------------------------------
# Ending a run
# --------------------------------------------------------------------------------------------

def _succeed(store: Store, run: SyncRun) -> None:
    with transaction.atomic():
        run.status = SyncRun.Status.SUCCEEDED
        run.finished_at = timezone.now()
        if run.over_limit:
            run.error_code = SKU_LIMIT_CODE
            run.error_message = (f"{run.over_limit} of the store's {run.total_reported} SKUs "
                                 f"are beyond the pack's limit of {run.sku_limit} and were "
                                 f"not synced.")
        else:
            run.error_code = run.error_message = ""
        run.save(update_fields=["status", "finished_at", "error_code", "error_message"])
        store_services.mark_synced(store)


def _end_failed(run: SyncRun, code: str, message: str) -> None:
    run.status = SyncRun.Status.FAILED
    run.finished_at = timezone.now()
    run.error_code = code
    run.error_message = message
    run.save(update_fields=["status", "finished_at", "error_code", "error_message"])


def _fail(store: Store, run: SyncRun, error: MarketplaceError) -> None:
    with transaction.atomic():
        _end_failed(run, error.code, error.message or str(error))
        store_services.apply_marketplace_error(store, error)


def _requeue_for_retry(run: SyncRun, error: MarketplaceError) -> None:
    run.status = SyncRun.Status.QUEUED
    run.heartbeat_at = timezone.now()
    run.error_code = error.code
    run.error_message = error.message or str(error)
    run.save(update_fields=["status", "heartbeat_at", "error_code", "error_message"])
