"""Handing items to the workers, fairly between tenants.

A job does not put all its items on the Celery queue at once: each tenant has at most a
window of items in flight (by default the primary nodes' total concurrency), and each item
that ends hands the next one of its tenant to the queue. The queue therefore holds about a
window of each busy tenant, so a 10-SKU job of one tenant waits behind at most one window of
another tenant's 5,000-SKU job, never behind all of it.

Items carry a lease: a dispatched item whose message was lost, or a running item whose
worker died, is put back in the queue by `recover_stalled_items` (a django-q2 schedule).
The claim in `generation.pipeline` makes sure that only one worker ever finishes an item.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from generation import nodes
from generation.models import GenerationItem, GenerationJob

Status = GenerationItem.Status


def tenant_window() -> int:
    return settings.GENERATION_TENANT_WINDOW or nodes.total_capacity()


def refill(tenant_id: int) -> int:
    """Dispatch the tenant's next queued items up to its window. Returns how many."""
    from generation.tasks import run_item_task  # the task module imports this one

    now = timezone.now()
    with transaction.atomic():
        in_flight = GenerationItem.unscoped.filter(tenant_id=tenant_id,
                                                   status__in=GenerationItem.IN_FLIGHT).count()
        free = tenant_window() - in_flight
        if free <= 0:
            return 0
        # SKIP LOCKED: two workers refilling at once take different items.
        picked = list(GenerationItem.unscoped.select_for_update(skip_locked=True, of=("self",))
                      .filter(tenant_id=tenant_id, status=Status.QUEUED,
                              job__status__in=GenerationJob.ACTIVE_STATUSES)
                      .order_by("job_id", "id")
                      .values_list("id", "job_id", "job__status")[:free])
        if not picked:
            return 0
        item_ids = [item_id for item_id, _job_id, _job_status in picked]
        lease = now + timedelta(seconds=settings.GENERATION_DISPATCH_LEASE_SECONDS)
        GenerationItem.unscoped.filter(pk__in=item_ids).update(status=Status.DISPATCHED,
                                                               lease_expires_at=lease)
        starting = {job_id for _item_id, job_id, job_status in picked
                    if job_status == GenerationJob.Status.QUEUED}
        if starting:  # usually none: the job runs already (saves a round trip per item)
            GenerationJob.unscoped.filter(pk__in=starting,
                                          status=GenerationJob.Status.QUEUED).update(
                status=GenerationJob.Status.RUNNING, started_at=now)
        transaction.on_commit(lambda: [run_item_task.delay(tenant_id, item_id)
                                       for item_id in item_ids])
    return len(item_ids)


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
