"""Reading the audit trail: filtered by actor and action, system rows folded, targets named in
the reader's language (they are stored as codes: "item #312", "job #7", "review_settings")."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from audit.models import AuditEvent

SYSTEM = "system"  # the actor filter's value for rows without a person
_NUMBERED = re.compile(r"^(item|job|statement|store) #(\d+)$")


def target_label(target: str) -> str:
    """"item #312" -> "条目 #312" / "Item #312"; names (stores, e-mails) stay as they are."""
    match = _NUMBERED.match(target or "")
    if match:
        labels = {"item": _("Item #%(id)s"), "job": _("Job #%(id)s"),
                  "statement": _("Statement #%(id)s"), "store": _("Store #%(id)s")}
        return labels[match.group(1)] % {"id": match.group(2)}
    if target == "review_settings":
        return _("Review settings")
    return target


def filtered(events: QuerySet[AuditEvent], *, actor: str = "", action: str = ""
             ) -> QuerySet[AuditEvent]:
    """`actor`: "" (everyone), "system" (rows without a person) or a user id; `action`: one of
    AuditEvent.Action or "" (every action). Unknown values filter nothing out."""
    if actor == SYSTEM:
        events = events.filter(actor__isnull=True)
    elif actor.isdigit():
        events = events.filter(actor_id=int(actor))
    if action in AuditEvent.Action.values:
        events = events.filter(action=action)
    return events


@dataclass
class TrailRow:
    """One event, or a run of consecutive system events of one action folded into one row."""

    first: AuditEvent
    count: int = 1
    earliest: datetime | None = None

    @property
    def folded(self) -> bool:
        return self.count > 1

    @property
    def target(self) -> str:
        return target_label(self.first.target)


def folded(events: Iterable[AuditEvent]) -> list[TrailRow]:
    """Consecutive rows without a person and with the same action become one row with their
    count and time span (hundreds of "entered review" rows of one job read as one)."""
    rows: list[TrailRow] = []
    for event in events:
        last = rows[-1] if rows else None
        if (last is not None and event.actor_id is None and last.first.actor_id is None
                and event.action == last.first.action):
            last.count += 1
            last.earliest = event.created_at
            continue
        rows.append(TrailRow(first=event, earliest=event.created_at))
    return rows


def actor_choices(events: QuerySet[AuditEvent]) -> list[tuple[str, str]]:
    """The people who appear in the trail (and "system"), for the actor filter."""
    people = (events.exclude(actor__isnull=True).order_by()
              .values_list("actor_id", "actor__email").distinct())
    return [(SYSTEM, _("System")),
            *sorted(((str(pk), email) for pk, email in people), key=lambda row: row[1])]
