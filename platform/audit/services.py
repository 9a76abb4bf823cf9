from __future__ import annotations

from typing import Any

from audit.models import AuditEvent
from tenants.models import Tenant, User


def record(action: str, *, tenant: Tenant, actor: User | None, target: str = "",
           details: dict[str, Any] | None = None) -> AuditEvent:
    return AuditEvent.unscoped.create(
        tenant=tenant, actor=actor, action=action, target=target[:200], details=details or {}
    )
