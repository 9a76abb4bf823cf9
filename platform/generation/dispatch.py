"""Handing items to the workers, fairly between tenants.

A job does not put all its items on the Celery queue at once: each tenant has at most a
window of items in flight (see `tenant_window`), and each item that ends hands the next one
of its tenant on: to the worker that ended it, which runs it itself for up to
GENERATION_CONTINUE_SECONDS per task (no round trip through the broker per item), or else
to the queue. The queue therefore holds about a window of each busy tenant, so a 10-SKU job
of one tenant waits behind at most one window of another tenant's 5,000-SKU job (and a
worker's GENERATION_CONTINUE_SECONDS), never behind all of it.

Items carry a lease: a dispatched item whose message was lost, or a running item whose
worker died, is put back in the queue by `recover_stalled_items` (a django-q2 schedule).
The claim in `generation.pipeline` makes sure that only one worker ever finishes an item.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from generation import nodes
from generation.models import GenerationItem, GenerationJob

Status = GenerationItem.Status


def tenant_window() -> int:
    """Items one tenant may have in flight: GENERATION_TENANT_WINDOW, or by default
    `window_for` the primary nodes' total concurrency."""
    return settings.GENERATION_TENANT_WINDOW or window_for(nodes.total_capacity())


def window_for(capacity: int) -> int:
    """One item more per 16 node slots than the nodes take at once: the extra item is
    claimed and ready when a slot frees, so a node does not wait for the platform's work
    between two requests (one item's ending, the next one's claim and quota). More would
    only make items queue for a slot (measured: docs/architecture.md, "Generation")."""
    return capacity + math.ceil(capacity / 16)


def refill(tenant_id: int, *, keep_first: bool = False) -> list[int]:
    """Dispatch the tenant's next queued items up to its window; returns their ids. With
    `keep_first` the first is not queued: the calling worker runs it itself.

    Every item's ending calls this, so it is one statement (`_REFILL`). Two workers refilling
    at once take different items (SKIP LOCKED); they may together overshoot the window by an
    item or two, which the node's own concurrency limit absorbs."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.GENERATION_DISPATCH_LEASE_SECONDS)
    item_ids = _dispatch_next(tenant_id, now, lease)
    queued = item_ids[1:] if keep_first else item_ids
    if queued:
        from generation.tasks import run_item_task  # the task module imports this one

        transaction.on_commit(lambda: [run_item_task.delay(tenant_id, item_id)
                                       for item_id in queued])
    return item_ids


_ITEMS = GenerationItem._meta.db_table
_JOBS = GenerationJob._meta.db_table
# Count the tenant's items in flight, lock up to the free part of its window among its
# queued items (oldest job first), mark them dispatched, and start their jobs if queued.
_REFILL = f"""
WITH picked AS (
    SELECT i.id FROM {_ITEMS} i JOIN {_JOBS} j ON j.id = i.job_id
    WHERE i.tenant_id = %(tenant)s AND i.status = %(queued)s AND j.status = ANY(%(active)s)
    ORDER BY i.job_id, i.id
    LIMIT GREATEST(%(window)s - (SELECT count(*) FROM {_ITEMS}
                                 WHERE tenant_id = %(tenant)s AND status = ANY(%(in_flight)s)),
                   0)
    FOR UPDATE OF i SKIP LOCKED
), dispatched AS (
    UPDATE {_ITEMS} i SET status = %(dispatched)s, lease_expires_at = %(lease)s
    FROM picked WHERE i.id = picked.id
    RETURNING i.id, i.job_id
), started AS (
    UPDATE {_JOBS} SET status = %(running)s, started_at = %(now)s
    WHERE id IN (SELECT job_id FROM dispatched) AND status = %(queued_job)s
)
SELECT id FROM dispatched ORDER BY id"""  # noqa: S608 (table names from the models)


def _dispatch_next(tenant_id: int, now: datetime, lease: datetime) -> list[int]:
    params = {"tenant": tenant_id, "queued": Status.QUEUED.value,
              "active": [status.value for status in GenerationJob.ACTIVE_STATUSES],
              "window": tenant_window(), "in_flight": [s.value for s in GenerationItem.IN_FLIGHT],
              "dispatched": Status.DISPATCHED.value, "lease": lease,
              "running": GenerationJob.Status.RUNNING.value, "now": now,
              "queued_job": GenerationJob.Status.QUEUED.value}
    with connection.cursor() as cursor:
        cursor.execute(_REFILL, params)
        return [row[0] for row in cursor.fetchall()]


def recover_stalled_items(now=None) -> int:
    """Housekeeping: put items whose lease ran out back in the queue, then refill every
    tenant with queued work (also restarts a tenant whose messages were all lost)."""
    now = now or timezone.now()
    recovered = GenerationItem.unscoped.filter(
        status__in=GenerationItem.IN_FLIGHT, lease_expires_at__lt=now,
        job__status__in=GenerationJob.ACTIVE_STATUSES,
    ).update(status=Status.QUEUED, claim_token="", lease_expires_at=None)
    tenants = (GenerationItem.unscoped.filter(status=Status.QUEUED,
                                              job__status__in=GenerationJob.ACTIVE_STATUSES)
               .values_list("tenant_id", flat=True).distinct())
    for tenant_id in list(tenants):
        refill(tenant_id)
    return recovered
