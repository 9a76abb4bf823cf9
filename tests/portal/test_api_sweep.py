"""The cross-tenant sweep of the API, from the OpenAPI schema: every operation is called by
tenant B (with its key, and with its owner's session), naming tenant A's objects by id in the
path, in the filters and in the body. Nothing of tenant A may show or change, and the answer
must be the same as for an id that exists nowhere (no existence oracle).

A new operation is swept as soon as it is in the schema; a new path with an {id} needs its
object in tests/portal/api_objects.py."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.conftest import client_for, owner_key
from tests.portal.api_objects import object_ids
from tests.portal.test_url_walk import _generation_job, _leaks, _snapshot

MISSING = 987_654_321_012  # an id no table reaches
METHODS = ("get", "post", "put", "patch", "delete")


def api_schema() -> dict:
    return json.loads(Client().get("/api/v1/schema/", {"format": "json"}).content)


def operations() -> list[tuple[str, str, dict]]:
    schema = api_schema()
    return [(path, method, spec) for path, item in schema["paths"].items()
            for method, spec in item.items() if method in METHODS]


def _request(client: Client, method: str, path: str, spec: dict, ids: dict, **headers):
    """Call the operation with `ids` (A's, or MISSING everywhere) in path, filters and body."""
    url = path.replace("{id}", str(ids["path"])) if "{id}" in path else path
    query = {p["name"]: ids[p["name"]] for p in spec.get("parameters", [])
             if p["in"] == "query" and p["name"] in ("store", "job")}
    if method == "get":
        return client.get(url, query, **headers)
    body = {"store": ids["store"], "ids": [ids["review"]], "product_ids": [ids["product"]],
            "kinds": ["title"], "languages": ["en"], "compliance_mode": True,
            "content": {"title": "Sweep title"}, "reason": "sweep", "note": "sweep",
            "site_code": "temu-us", "authorization_code": "sweep-code",
            "require_four_eyes": True}
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return getattr(client, method)(url, json.dumps(body), content_type="application/json",
                                   **headers)


def _shape(value):
    """What an answer tells apart from another: its structure and its error codes, not the
    ids it echoes."""
    if isinstance(value, dict):
        return {k: v if k == "code" else _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__


def _answer(response) -> tuple:
    try:
        body = _shape(response.json())
    except ValueError:
        body = response.content
    return response.status_code, body


@pytest.fixture
def world(world_a, settings):
    settings.API_RATE_PER_KEY = settings.API_RATE_PER_TENANT = "100000/minute"
    return world_a


@pytest.fixture
def key_b(tenant_b, owner_b) -> dict:
    return {"HTTP_AUTHORIZATION": f"Api-Key {owner_key(tenant_b, owner_b)}"}


def _ids_of(world, path: str) -> dict:
    return {"path": object_ids(world).get(path), "store": world.store.pk,
            "job": _generation_job(world).pk, "review": world.review.pk,
            "product": world.product.pk}


@pytest.mark.parametrize("who", ["key", "session"])
def test_tenant_b_reaches_nothing_of_tenant_a_and_learns_nothing(world, tenant_b, owner_b,
                                                                 key_b, who):
    before = _snapshot(world)
    failures, swept = [], 0
    for path, method, spec in operations():
        ids = _ids_of(world, path)
        if "{id}" in path and ids["path"] is None:
            failures.append(f"{path}: add tenant A's object to tests/portal/api_objects.py")
            continue
        missing = dict.fromkeys(ids, MISSING)
        answers = []
        for chosen in (ids, missing):
            client = Client() if who == "key" else client_for(owner_b, tenant_b)
            headers = key_b if who == "key" else {}
            answers.append(_request(client, method, path, spec, chosen, **headers))
        real, absent = answers
        swept += 1
        label = f"{method.upper()} {path}"
        leaked = _leaks(real.content, world)
        if leaked:
            failures.append(f"{label}: shows tenant A's data {leaked}")
        if real.status_code >= 500:
            failures.append(f"{label}: {real.status_code}")
        if _answer(real) != _answer(absent):
            failures.append(f"{label}: answers A's ids ({real.status_code} "
                            f"{real.content[:200]!r}) unlike missing ones "
                            f"({absent.status_code} {absent.content[:200]!r})")
    assert swept > 30
    assert not failures, f"{len(failures)} operation(s):\n  " + "\n  ".join(failures)
    assert _snapshot(world) == before, "tenant B's requests changed tenant A's data"


def test_the_sweep_sees_tenant_a_with_tenant_a_key(world):
    """The positive control: the same requests with A's own key do find A's objects."""
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {world.raw_api_key}")
    for path in ("/api/v1/stores/{id}/", "/api/v1/reviews/{id}/", "/api/v1/products/{id}/"):
        response = client.get(path.replace("{id}", str(object_ids(world)[path])))
        assert response.status_code == 200 and _leaks(response.content, world), path
