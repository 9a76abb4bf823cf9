"""`{% load generation_gates %}`: the quality gates' findings explained (generation.gates)."""

from __future__ import annotations

from typing import Any

from django import template

from generation import gates

register = template.Library()


@register.filter
def gate_findings_explained(findings: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Each finding with what was found and what to do, in the user's language."""
    explained = []
    for finding in findings or []:
        meaning, remedy = gates.explain(finding)
        explained.append({**finding, "meaning": meaning, "remedy": remedy,
                          "blocking": finding.get("gate") in gates.BLOCKING,
                          "where": gates.field_label(finding.get("path", ""))})
    return explained


@register.filter
def percent(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.0f}%"
