"""API rate limits: per key and per tenant, in the Redis cache, 429 with Retry-After."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import client_for, owner_key


def _key(tenant, user, name="ERP") -> Client:
    raw = owner_key(tenant, user, name)
    return Client(HTTP_AUTHORIZATION=f"Api-Key {raw}", HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def low_limits(settings):
    settings.API_RATE_PER_KEY = "3/minute"
    settings.API_RATE_PER_TENANT = "5/minute"


def test_a_key_over_its_limit_gets_429_with_retry_after(low_limits, tenant_a, owner_a):
    client = _key(tenant_a, owner_a)
    assert [client.get("/api/v1/me/").status_code for _ in range(3)] == [200] * 3
    refused = client.get("/api/v1/me/")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    body = refused.json()
    assert set(body) == {"code", "message", "details"} and body["code"] == "throttled"


def test_the_tenant_limit_counts_its_keys_and_sessions_together(low_limits, tenant_a, owner_a):
    first, second = _key(tenant_a, owner_a, "one"), _key(tenant_a, owner_a, "two")
    session = client_for(owner_a, tenant_a)
    statuses = [c.get("/api/v1/me/").status_code for c in (first, first, second, second,
                                                           session, session)]
    assert statuses == [200, 200, 200, 200, 200, 429]


def test_one_tenant_over_its_limit_does_not_slow_another(low_limits, tenant_a, owner_a,
                                                         tenant_b, owner_b):
    busy = _key(tenant_a, owner_a)
    for _ in range(4):
        busy.get("/api/v1/me/")
    assert busy.get("/api/v1/me/").status_code == 429
    assert _key(tenant_b, owner_b).get("/api/v1/me/").status_code == 200


def test_the_default_limits_are_generous_enough_for_a_program(tenant_a, owner_a, settings):
    assert settings.API_RATE_PER_KEY == "600/minute"
    assert settings.API_RATE_PER_TENANT == "1200/minute"
