"""Celery tasks that work on one tenant's data receive the tenant id and run in its scope."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from celery import shared_task

from tenants.models import Tenant
from tenants.scope import tenant_scope


def tenant_task(**task_options: Any) -> Callable:
    """Like @shared_task, for a function whose first argument is the Tenant.

    Callers enqueue it with the tenant's id (JSON-serialisable); the worker loads the
    tenant and runs the body inside tenant_scope, so scoped queries just work.
    """

    def decorator(func: Callable[..., Any]) -> Any:
        @shared_task(name=f"{func.__module__}.{func.__name__}", **task_options)
        @functools.wraps(func)
        def run(tenant_id: int, *args: Any, **kwargs: Any) -> Any:
            tenant = Tenant.objects.get(pk=tenant_id)
            with tenant_scope(tenant):
                return func(tenant, *args, **kwargs)

        return run

    return decorator
