"""The company's audit trail: every event, filtered by who and what, system rows folded."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit import selectors
from audit.models import AuditEvent
from tenants.access import member_required

PER_PAGE = 100
MOST_EVENTS = 10_000  # the newest events read per request, folded, then paged


@member_required()
def audit_trail(request: HttpRequest) -> HttpResponse:
    actor = request.GET.get("actor", "")
    action = request.GET.get("action", "")
    events = AuditEvent.objects.select_related("actor")
    rows = selectors.folded(
        selectors.filtered(events, actor=actor, action=action)[:MOST_EVENTS])
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "audit/trail.html", {
        "page": page, "actor": actor, "action": action,
        "actor_choices": selectors.actor_choices(events),
        "action_choices": AuditEvent.Action.choices,
        "query": urlencode({k: v for k, v in (("actor", actor), ("action", action)) if v}),
    })
