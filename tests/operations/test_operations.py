"""Health, readiness, metrics and log context: what an operator's tools read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from billing import services as billing
from generation.models import GenerationItem
from kernel import log_context
from tenants.scope import tenant_scope
from tests.generation.conftest import make_product, make_store, pack  # noqa: F401
from tests.generation.test_pipeline import start

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_liveness_answers_without_touching_anything():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readiness_checks_each_dependency(settings):
    body = Client().get("/readyz").json()
    assert set(body["checks"]) == {"database", "cache", "redis", "broker", "model_nodes"}
    for name in ("database", "cache", "redis", "broker"):
        assert body["checks"][name]["ok"], body["checks"][name]
    # No model node is set up here: degraded, still ready (web pages work without them).
    assert body["checks"]["model_nodes"] == {
        "ok": False, "ms": body["checks"]["model_nodes"]["ms"], "required": False,
        "detail": "RuntimeError: no enabled text model node is in rotation"}
    assert body["status"] == "degraded"


def test_readiness_fails_when_the_broker_is_gone(monkeypatch):
    from config.celery import app

    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert not response.json()["checks"]["broker"]["ok"]


def test_metrics_need_the_token_outside_the_demo(settings):
    settings.DEBUG = False
    settings.METRICS_TOKEN = "scrape-me"
    assert Client().get("/metrics").status_code == 404
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    assert response.status_code == 200
    assert "listing_ai_quota_reservations_open" in response.content.decode()


def test_metrics_show_the_platforms_state(settings, tenant_a, owner_a, pack):  # noqa: F811
    settings.METRICS_TOKEN = "scrape-me"
    store = make_store(tenant_a, owner_a)
    billing.subscribe_store(store, pack, by=None)
    start(store, owner_a, [make_product(store) for _ in range(3)])
    queued = GenerationItem.unscoped.filter(job__store=store).exclude(
        status=GenerationItem.Status.DISPATCHED).count()
    text = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").content.decode()
    assert f'listing_ai_generation_items{{status="queued"}} {float(queued)}' in text
    assert "listing_ai_publish_backlog 0.0" in text
    assert 'listing_ai_queue_depth{queue="' in text
    assert "django_http_requests_total_by_method_total" in text  # django-prometheus


def test_every_response_carries_its_request_id():
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="proxy-abc.123")
    assert response["X-Request-ID"] == "proxy-abc.123"
    generated = Client().get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
    assert len(generated) == 32 and "\n" not in generated


def test_the_tenant_scope_is_in_the_log_context(tenant_a):
    assert "tenant_id" not in log_context.current()
    with tenant_scope(tenant_a), log_context.bound(job_id=7):
        assert log_context.current() == {"tenant_id": tenant_a.pk, "job_id": 7}
    assert log_context.current() == {}


def test_json_logs_carry_the_ids():
    """LOG_FORMAT=json as configured in settings: one JSON object a line with the ids."""
    program = ("import logging, django; django.setup(); from kernel import log_context; "
               "ctx = log_context.bound(request_id='r-1', tenant_id=3, job_id=4, item_id=5); "
               "ctx.__enter__(); logging.getLogger('listing_ai.test').warning('hello')")
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "config.test_settings",
           "PYTHONPATH": str(ROOT / "platform")}
    done = subprocess.run([sys.executable, "-c", program], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert {key: line[key] for key in ("message", "level", "name", "request_id", "tenant_id",
                                        "job_id", "item_id")} == {
        "message": "hello", "level": "WARNING", "name": "listing_ai.test", "request_id": "r-1",
        "tenant_id": 3, "job_id": 4, "item_id": 5}
