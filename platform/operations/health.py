"""Readiness: can this process do its work? The database, Redis (cache and shared state),
the Celery broker and the model nodes, each timed. Liveness is only "the process answers"."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection

from generation import nodes
from portal.shared_redis import shared_redis


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    milliseconds: float
    detail: str = ""
    # A failing check that is not required makes the process "degraded", still ready: web
    # pages work without the model nodes, and taking every web process out of the load
    # balancer because a model provider is down would help nobody.
    required: bool = True


def _timed(name: str, probe: Callable[[], str], required: bool) -> Check:
    began = time.perf_counter()
    try:
        detail = probe()
    except Exception as error:  # noqa: BLE001  a failing dependency is the answer, not a crash
        return Check(name, False, _since(began), f"{type(error).__name__}: {error}"[:300],
                     required)
    return Check(name, True, _since(began), detail, required)


def _since(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 1)


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return ""


def _cache() -> str:
    cache.set("readiness-probe", "1", 10)
    if cache.get("readiness-probe") != "1":
        raise RuntimeError("the cache did not keep a value")
    return ""


def _redis() -> str:
    shared_redis().ping()
    return ""


def _broker() -> str:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
    return ""


def _model_nodes() -> str:
    """Ready when at least one enabled text node is in rotation (its breaker not open)."""
    usable = [node for node in nodes.enabled_nodes()
              if node.supports_text and nodes.breaker_state(node) != nodes.OPEN]
    if not usable:
        raise RuntimeError("no enabled text model node is in rotation")
    return ", ".join(node.name for node in usable)


# name: (probe, required)
CHECKS: dict[str, tuple[Callable[[], str], bool]] = {
    "database": (_database, True), "cache": (_cache, True), "redis": (_redis, True),
    "broker": (_broker, True), "model_nodes": (_model_nodes, False),
}


def readiness() -> list[Check]:
    return [_timed(name, probe, required) for name, (probe, required) in CHECKS.items()]


def status_of(checks: list[Check]) -> str:
    if not all(check.ok for check in checks if check.required):
        return "unavailable"
    return "ok" if all(check.ok for check in checks) else "degraded"
