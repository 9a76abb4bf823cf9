"""Bad input gets a clear 400 (never a 500): deep JSON, NUL characters, bodies over the upload
limit; under /api/ always in the JSON error body."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from review.models import Review
from tests.conftest import english_client, owner_key
from tests.review.conftest import review_of

ERROR_KEYS = {"code", "message", "details"}
DEEP = "[" * 50_000 + "]" * 50_000


@pytest.fixture
def review(desk) -> Review:
    return desk.review(0)


@pytest.fixture
def api(desk) -> Client:
    raw = owner_key(desk.tenant, desk.owner)
    return Client(HTTP_AUTHORIZATION=f"Api-Key {raw}", HTTP_ACCEPT_LANGUAGE="en")


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == ERROR_KEYS and body["code"] == code, body
    return body


# Deep nesting ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/jobs/", "/api/v1/jobs/estimate/",
                                  "/api/v1/sync-runs/", "/api/v1/reviews/bulk-approve/"])
def test_deeply_nested_json_answers_400_parse_error(api, path):
    body = _error(api.post(path, DEEP, content_type="application/json"), 400, "parse_error")
    assert "nested too deeply" in body["message"]


def test_json_up_to_the_depth_limit_is_read(api, settings):
    depth = settings.INPUT_JSON_MAX_DEPTH
    within = '{"ids": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    response = api.post("/api/v1/reviews/bulk-approve/", within, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"  # parsed
    beyond = '{"ids": ' + "[" * depth + "]" * depth + "}"
    _error(api.post("/api/v1/reviews/bulk-approve/", beyond, content_type="application/json"),
           400, "parse_error")


def test_a_deeply_nested_review_edit_answers_400(api, review):
    content = json.dumps({"content": json.loads("[" * 40 + "]" * 40)})
    _error(api.post(f"/api/v1/reviews/{review.pk}/edit/", content,
                    content_type="application/json"), 400, "parse_error")


# NUL ---------------------------------------------------------------------------------------

def test_nul_in_a_review_edit_through_the_api_answers_400(api, review):
    body = _error(api.post(f"/api/v1/reviews/{review.pk}/edit/",
                           json.dumps({"content": {"title": "Steel\u0000 bottle"}}),
                           content_type="application/json"), 400, "nul_character")
    assert "content.title" in body["message"]
    assert Review.unscoped.get(pk=review.pk).status == Review.Status.PENDING


def test_nul_in_a_json_key_answers_400(api):
    _error(api.post("/api/v1/sync-runs/", '{"st\\u0000ore": 1}',
                    content_type="application/json"), 400, "nul_character")


def test_nul_in_an_api_form_body_and_query_string_answers_400(api, review):
    body = _error(api.post(f"/api/v1/reviews/{review.pk}/reject/", {"reason": "no\x00"}),
                  400, "nul_character")
    assert body["details"] == {"reason": [body["message"]]}
    _error(api.get("/api/v1/products/", {"q": "lamp\x00"}), 400, "nul_character")


def test_nul_in_the_portal_reject_reason_answers_a_clear_400(desk, review):
    client = english_client(desk.reviewer, desk.tenant)
    response = client.post(reverse("review_reject", args=[review.pk]), {"reason": "bad\x00"})
    assert response.status_code == 400
    assert "cannot contain the NUL character" in response.content.decode()
    assert "reason" in response.content.decode()
    assert review_of(review.item).status == Review.Status.PENDING


def test_nul_in_a_portal_edit_and_search_answers_400(desk, review):
    client = english_client(desk.reviewer, desk.tenant)
    edit = client.post(reverse("review_edit", args=[review.pk]), {"c.title": "Bottle\x00"})
    assert edit.status_code == 400
    assert client.get(reverse("catalog"), {"q": "x\x00"}).status_code == 400
    assert client.get("/portal/review/%00/").status_code in (400, 404)


def test_nul_message_is_translated(desk, review):
    from tests.conftest import client_for

    response = client_for(desk.reviewer, desk.tenant).post(
        reverse("review_reject", args=[review.pk]), {"reason": "bad\x00"})
    assert "NUL" in response.content.decode() and "不能" in response.content.decode()


# Over the upload limit -----------------------------------------------------------------------

def test_an_api_json_body_over_the_upload_limit_answers_413_json(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = _error(api.post("/api/v1/reviews/bulk-approve/",
                           json.dumps({"ids": list(range(500))}),
                           content_type="application/json"), 413, "request_too_large")
    assert "1000" in body["message"] or "KB" in body["message"]


def test_an_api_form_body_over_the_upload_limit_answers_json_not_html(api, settings, review):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    _error(api.post(f"/api/v1/reviews/{review.pk}/reject/", {"reason": "x" * 2000}),
           413, "request_too_large")
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    _error(api.post(f"/api/v1/reviews/{review.pk}/reject/",
                    {f"f{n}": "x" for n in range(10)}), 400, "too_many_fields")


def test_a_portal_form_over_the_upload_limit_answers_a_page(desk, review, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = english_client(desk.reviewer, desk.tenant)
    response = client.post(reverse("review_reject", args=[review.pk]), {"reason": "x" * 2000})
    assert response.status_code == 413
    assert "send less at once" in response.content.decode()


def test_unknown_api_routes_answer_json(api):
    _error(api.get("/api/v1/no-such-thing/"), 404, "not_found")
    _error(api.post("/api/v1/members/", {}), 405, "method_not_allowed")


# Bounds on numbers and lists -----------------------------------------------------------------

def test_more_product_ids_than_any_store_has_answer_400(api, desk):
    response = api.post("/api/v1/jobs/estimate/", json.dumps({
        "store": desk.store.pk, "kinds": ["title"], "languages": ["en"],
        "product_ids": list(range(1, 70_001))}), content_type="application/json")
    body = _error(response, 400, "invalid")
    assert "product_ids" in body["details"]


@pytest.mark.parametrize("value", [2**63, 2**31 * 10**12, -1, 0])
def test_ids_beyond_bigint_or_below_one_answer_400(api, desk, value):
    response = api.post("/api/v1/sync-runs/", {"store": value},
                        content_type="application/json")
    assert _error(response, 400, "invalid")["details"].keys() == {"store"}
    response = api.post("/api/v1/reviews/bulk-approve/", {"ids": [value]},
                        content_type="application/json")
    assert _error(response, 400, "invalid")["details"].keys() == {"ids"}


def test_a_huge_id_in_a_filter_finds_nothing(api):
    response = api.get("/api/v1/reviews/", {"store": str(2**80), "status": "all"})
    assert response.status_code == 200


@pytest.mark.parametrize("cap", [str(2**31), "1000001", "-1"])
def test_the_overage_cap_has_bounds(desk, cap):
    from billing.models import StoreSubscription

    client = english_client(desk.owner, desk.tenant)
    response = client.post(reverse("usage_overage_cap"), {"store": desk.store.pk,
                                                    "daily_overage_cap": cap}, follow=True)
    assert response.status_code == 200
    assert "The overage cap was not changed" in response.content.decode()
    assert not StoreSubscription.unscoped.filter(daily_overage_cap__gt=10**6).exists()


def test_the_portal_job_form_refuses_too_many_skus_with_a_clear_page(desk):
    client = english_client(desk.owner, desk.tenant)
    response = client.post(reverse("job_new"), {
        "store": desk.store.pk, "kinds": ["title"], "languages": ["en"],
        "product_ids": [str(n) for n in range(1, 6002)], "step": "preview"})
    assert response.status_code == 400
    assert "too many fields" in response.content.decode()
