"""Background image inspection: one task per product, enqueued after its sync page."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from catalog.models import Product
from images import fetch, services
from tenants.background import tenant_task
from tenants.models import Tenant

MAX_RETRIES = 5


# Idempotent: a repeated run finds the images unchanged (ETag) and downloads nothing.
@tenant_task(autoretry_for=(fetch.DownloadError,), retry_backoff=5, retry_backoff_max=300,
             retry_jitter=True, max_retries=MAX_RETRIES)
def inspect_product_images_task(tenant: Tenant, product_id: int) -> int:
    product = Product.objects.filter(pk=product_id).first()
    if product is None:  # deleted meanwhile
        return 0
    return len(services.inspect_product_images(product))


def inspect_after_sync(sender: Any, store: Any, product_ids: list[int], **kwargs: Any) -> None:
    """catalog.signals.products_changed: a task per new or changed product."""
    if not settings.IMAGES_INSPECT_AFTER_SYNC:
        return
    for product_id in product_ids:
        inspect_product_images_task.delay(store.tenant_id, product_id)
