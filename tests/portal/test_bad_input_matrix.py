"""The bad-input matrix, on PostgreSQL: every writable API operation (from the OpenAPI schema)
and every form on the portal's and the console's pages (found by reading the pages) gets
malformed JSON, deep nesting, NUL characters, huge numbers and lists, over-long strings and
wrong types. No answer may be a server error."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client
from django.test.utils import override_settings

from tests.conftest import client_for
from tests.portal.api_objects import object_ids
from tests.portal.test_api_sweep import api_schema, operations
from tests.portal.test_url_walk import _generation_job, all_routes, route_params

WRITES = ("post", "put", "patch", "delete")
RAW_BODIES = ['{"store": ', "not json", "[" * 50_000 + "]" * 50_000, '{"a\\u0000": 1}',
              "1" * 5000, "[]", '"text"', "null"]
BAD_VALUES = ["a\u0000b", "x" * 100_000, 10**30, 2**63, -(2**63) - 1, 1e308, -1, 0,
              list(range(70_000)), [], {}, True, None, "abc", [["nested"] * 3] * 3,
              {"title": "a\u0000b"}, "2026-13-45"]
FORM_VALUES = ["a\x00b", "x" * 100_000, "9" * 40, "-1", "1e308", "abc", "", "2026-13-45T99:99"]


def _base_body(world) -> dict:
    return {"store": world.store.pk, "ids": [world.review.pk], "product_ids": [world.product.pk],
            "kinds": ["title"], "languages": ["en"], "compliance_mode": True,
            "content": {"title": "Matrix title"}, "reason": "matrix", "note": "matrix",
            "site_code": "temu-us", "authorization_code": "matrix-code",
            "require_four_eyes": False, "q": "", "category": "", "flag": ""}


@pytest.fixture
def world(world_a, settings):
    settings.API_RATE_PER_KEY = settings.API_RATE_PER_TENANT = "100000/minute"
    return world_a


def _body_fields(spec: dict) -> list[str]:
    """The properties of the operation's JSON request body, as the schema documents them."""
    schema = (spec.get("requestBody") or {}).get("content", {}).get(
        "application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    if ref:
        schema = COMPONENTS[ref.rsplit("/", 1)[-1]]
    return list(schema.get("properties", {}))


COMPONENTS: dict = {}  # the schema's, filled by the test


def test_no_bad_api_body_is_a_server_error(world):
    COMPONENTS.update(api_schema()["components"]["schemas"])
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {world.raw_api_key}",
                    raise_request_exception=False)
    ids = object_ids(world)
    base = _base_body(world)
    failures, sent = [], 0
    for path, method, spec in operations():
        if method not in WRITES:
            continue
        url = path.replace("{id}", str(ids.get(path, _generation_job(world).pk)))
        fields = _body_fields(spec) or ["unexpected"]
        bodies = list(RAW_BODIES)
        for field in fields:
            for value in BAD_VALUES:
                bodies.append(json.dumps({**base, field: value}))
        for body in bodies:
            response = getattr(client, method)(url, body, content_type="application/json")
            sent += 1
            if response.status_code >= 500:
                failures.append(f"{method.upper()} {url} {body[:80]!r} -> "
                                f"{response.status_code}")
            elif not response["Content-Type"].startswith("application/json"):
                failures.append(f"{method.upper()} {url} {body[:80]!r} -> not JSON")
    assert sent > 500
    assert not failures, f"{len(failures)} server error(s):\n  " + "\n  ".join(failures[:50])


class _Forms(HTMLParser):
    """The POST forms of a page: (action, {field: default value})."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._fields: dict[str, str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._fields = {}
            self.forms.append((attrs.get("action") or "", self._fields))
        elif tag in ("input", "select", "textarea") and self._fields is not None:
            name = attrs.get("name")
            if name and name != "csrfmiddlewaretoken" and attrs.get("type") != "file":
                self._fields.setdefault(name, attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._fields = None


SKIPPED_ACTIONS = ("/accounts/logout/",)


def _pages(prefix: str) -> list:
    return [r for r in all_routes() if r.route.startswith(prefix)
            and (not r.params or route_params(r.route))]


@pytest.mark.parametrize(("area", "who"), [("portal/", "owner"), ("console/", "admin")])
def test_no_bad_form_input_is_a_server_error(world, platform_admin, area, who):
    client = client_for(world.owner, world.tenant) if who == "owner" else \
        client_for(platform_admin)
    client.raise_request_exception = False  # a server error is counted, not raised
    failures, sent, forms = [], 0, set()
    for route in _pages(area):
        page_url = route.url(world)
        page = client.get(page_url)
        if page.status_code != 200 or "text/html" not in page["Content-Type"]:
            continue
        parser = _Forms()
        parser.feed(page.content.decode())
        for action, defaults in parser.forms:
            target = urlsplit(urljoin(page_url, action) if action else page_url).path
            if target in SKIPPED_ACTIONS or (target, tuple(defaults)) in forms:
                continue
            forms.add((target, tuple(defaults)))
            attempts = [{name: value for name in defaults} for value in FORM_VALUES]
            for name in defaults:
                attempts += [{**defaults, name: value} for value in FORM_VALUES[:4]]
            for data in attempts:
                with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10 * 1024 * 1024):
                    response = client.post(target, data)
                sent += 1
                if response.status_code >= 500:
                    failures.append(f"POST {target} {str(data)[:120]} -> "
                                    f"{response.status_code}")
    assert len(forms) > (15 if who == "owner" else 10), sorted(forms)
    assert not failures, f"{len(failures)} server error(s) in {sent} posts:\n  " + \
        "\n  ".join(failures[:50])
