"""Background publishing: one task per store and batch of queued items (see review.publishing).

Idempotent: a task publishes only the items it claims (queued, and not held by a live
attempt), so a redelivered message (late acknowledgement) or a duplicate finds nothing left to
do; items whose attempt died are sent again by housekeeping (publishing.recover_stalled_
publications), which reads the listing before anything is sent twice.
"""

from __future__ import annotations

from review import publishing
from stores.models import Store
from tenants.background import tenant_task
from tenants.models import Tenant


@tenant_task()
def publish_batch_task(tenant: Tenant, store_id: int, review_ids: list[int]) -> dict[str, int]:
    store = Store.objects.filter(pk=store_id).first()
    if store is None:
        return {}
    outcomes = publishing.publish_batch(store, review_ids)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts
