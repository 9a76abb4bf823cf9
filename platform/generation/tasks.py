"""Celery tasks of the generation pipeline: thin, idempotent wrappers (see pipeline)."""

from __future__ import annotations

from celery.signals import worker_process_init
from django.conf import settings
from django.db import DatabaseError

from generation import gates, pipeline
from tenants.background import tenant_task
from tenants.models import Tenant


# Idempotent: a redelivered message finds the item claimed or ended and does nothing. A
# database failure (connection lost, the pool exhausted) runs the task again, backing off up
# to a minute; an item it had claimed was given back first (pipeline._hand_back).
@tenant_task(autoretry_for=(DatabaseError,), retry_backoff=True, retry_backoff_max=60,
             max_retries=20)
def run_item_task(tenant: Tenant, item_id: int) -> str | None:
    ending = pipeline.run_item(item_id, then_more_for=settings.GENERATION_CONTINUE_SECONDS)
    return ending.status if ending else None


@worker_process_init.connect
def _load_language_models(**kwargs) -> None:
    """The language gate's models load once per worker process, before its first item (about
    3 s), not in the middle of one."""
    gates.warm_up()
