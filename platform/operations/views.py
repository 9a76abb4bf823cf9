"""`/healthz` (liveness), `/readyz` (readiness) and `/metrics` (Prometheus)."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from operations import health


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers. Nothing else is checked: a restart would not mend a database."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Whether this process can do its work now: 200 when every required dependency answers
    (status "degraded" if an optional one does not), 503 otherwise."""
    checks = health.readiness()
    status = health.status_of(checks)
    return JsonResponse({
        "status": status,
        "checks": {check.name: {"ok": check.ok, "ms": check.milliseconds,
                                "required": check.required, "detail": check.detail}
                   for check in checks},
    }, status=503 if status == "unavailable" else 200)


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for a scraper that sends METRICS_TOKEN as a bearer token;
    without a token only the local demo (DEBUG) shows them (behind a proxy every request
    comes from the proxy's address, so an address is no proof)."""
    if not _may_scrape(request):
        return HttpResponse(status=404)
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(offered.encode(), token.encode())
    return settings.DEBUG
