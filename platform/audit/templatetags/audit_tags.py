from __future__ import annotations

from collections.abc import Iterable

from django import template

from audit import selectors
from audit.models import AuditEvent

register = template.Library()


@register.filter
def audit_rows(events: Iterable[AuditEvent | selectors.TrailRow]) -> list[selectors.TrailRow]:
    """{% for row in events|audit_rows %}: system rows folded, targets translated (rows
    already folded pass through)."""
    events = list(events)
    if events and isinstance(events[0], selectors.TrailRow):
        return events
    return selectors.folded(events)
