"""The current tenant, and the model base that makes tenant scoping impossible to forget.

Every tenant-owned model inherits `TenantOwnedModel`. Its default manager only answers
inside `tenant_scope(tenant)` and then only with that tenant's rows; outside a scope it
raises `TenantScopeError`. Code that must see every tenant (ISV staff consoles, the admin,
housekeeping) says so explicitly through `Model.unscoped`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from django.db import models

from kernel import log_context

if TYPE_CHECKING:
    from tenants.models import Tenant

_current_tenant: ContextVar[Tenant | None] = ContextVar("current_tenant", default=None)


class TenantScopeError(RuntimeError):
    """A tenant-owned model was queried with no tenant in scope."""


def current_tenant() -> Tenant | None:
    return _current_tenant.get()


def require_tenant() -> Tenant:
    tenant = _current_tenant.get()
    if tenant is None:
        raise TenantScopeError(
            "No tenant in scope. Wrap the code in tenant_scope(tenant), "
            "or use Model.unscoped where crossing tenants is intended."
        )
    return tenant


@contextmanager
def tenant_scope(tenant: Tenant | None) -> Iterator[Tenant | None]:
    token = _current_tenant.set(tenant)
    try:
        with log_context.bound(tenant_id=tenant.pk if tenant is not None else None):
            yield tenant
    finally:
        _current_tenant.reset(token)


class TenantScopedManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(tenant=require_tenant())


class TenantOwnedModel(models.Model):
    """A row that belongs to one tenant. New rows take the tenant in scope."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE)

    objects = TenantScopedManager()
    unscoped = models.Manager()  # noqa: DJ012 (a manager, not a field)

    class Meta:
        abstract = True
        base_manager_name = "unscoped"

    def save(self, *args, **kwargs) -> None:
        if self.tenant_id is None:
            self.tenant = require_tenant()
        self._refuse_other_tenant("save")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._refuse_other_tenant("delete")
        return super().delete(*args, **kwargs)

    def _refuse_other_tenant(self, action: str) -> None:
        in_scope = current_tenant()
        if in_scope is not None and in_scope.pk != self.tenant_id:
            raise TenantScopeError(f"Refusing to {action} another tenant's row inside this scope.")
