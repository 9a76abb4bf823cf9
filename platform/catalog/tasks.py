"""Background catalog sync: one task per requested SyncRun (see catalog.services)."""

from __future__ import annotations

from celery import current_task

from catalog import services
from catalog.models import SyncRun
from marketplaces.connectors import MarketplaceError
from stores.models import Store
from tenants.background import tenant_task
from tenants.models import Tenant

MAX_RETRIES = 5


# Idempotent: a redelivered or duplicate message finds its run finished, or running elsewhere,
# and does nothing; a retry continues the same run after its last completed page.
# Only retryable marketplace errors escape sync_store (while retries remain): back off and retry.
@tenant_task(autoretry_for=(MarketplaceError,), retry_backoff=2, retry_backoff_max=120,
             retry_jitter=True, max_retries=MAX_RETRIES)
def sync_store_task(tenant: Tenant, store_id: int, sync_run_id: int) -> str | None:
    run = SyncRun.objects.filter(pk=sync_run_id, store_id=store_id).first()
    store = Store.objects.filter(pk=store_id).first()
    if run is None or store is None:  # deleted meanwhile
        return None
    retries = current_task.request.retries if current_task else MAX_RETRIES
    run = services.sync_store(store, run=run, retry_allowed=retries < MAX_RETRIES)
    return run.status
