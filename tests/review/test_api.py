"""The review API: queue filters, decisions, bulk approve, publishing, error bodies, tenant
isolation."""

from __future__ import annotations

import pytest
from django.test import Client

from review.models import Review
from tenants import api_keys
from tenants.roles import TenantRole
from tenants.scope import tenant_scope
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

Status = Review.Status
API = "/api/v1/reviews/"


@pytest.fixture
def as_reviewer(desk) -> Client:
    return client_for(desk.reviewer, desk.tenant)


def test_the_queue_lists_pending_items_flagged_first_with_the_original(desk, as_reviewer):
    plain = desk.review(0)
    flagged = desk.review(1, needs_human_check=True)
    answer = as_reviewer.get(API)
    assert answer.status_code == 200
    rows = answer.json()["results"]
    assert [row["id"] for row in rows] == [flagged.pk, plain.pk]
    row = rows[1]
    assert row["status"] == "pending" and row["kind"] == "title"
    assert row["original"]["title"] == "Original listing title"
    assert row["ai_content"] == plain.ai_content
    assert row["publish"]["pending"] is False


def test_the_queue_filters(desk, as_reviewer):
    title = desk.review(0)
    terms = desk.review(1, kind="search_terms")
    german = desk.review(2, language="de")

    def ids(**params):
        return [row["id"] for row in as_reviewer.get(API, params).json()["results"]]

    assert ids(kind="search_terms") == [terms.pk]
    assert ids(language="de") == [german.pk]
    assert sorted(ids(store=desk.store.pk)) == sorted([title.pk, terms.pk, german.pk])
    assert ids(job=desk.job.pk + 1000) == []
    assert ids(flag="compliance") == []
    assert sorted(ids(flag="clean")) == sorted([title.pk, terms.pk, german.pk])
    assert ids(status="approved") == []


def test_decisions_through_the_api(desk, as_reviewer):
    first, second, third = (desk.review(i) for i in range(3))
    approved = as_reviewer.post(f"{API}{first.pk}/approve/")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["reviewer"] == desk.reviewer.email
    edited = as_reviewer.post(f"{API}{second.pk}/edit/",
                              {"content": {"title": "Steel bottle 750 ml"}},
                              content_type="application/json")
    assert edited.status_code == 200 and edited.json()["status"] == "edited_approved"
    no_reason = as_reviewer.post(f"{API}{third.pk}/reject/", {"reason": ""},
                                 content_type="application/json")
    assert no_reason.status_code == 400
    assert no_reason.json()["code"] == "ERR_REVIEW_REASON_REQUIRED"
    assert "reason" in no_reason.json()["details"]
    rejected = as_reviewer.post(f"{API}{third.pk}/reject/", {"reason": "Wrong size"},
                                content_type="application/json")
    assert rejected.json()["status"] == "rejected"
    history = as_reviewer.get(f"{API}{third.pk}/history/").json()
    assert [event["action"] for event in history] == ["review.entered", "review.rejected"]
    assert history[1]["actor"] == desk.reviewer.email
    again = as_reviewer.post(f"{API}{third.pk}/approve/")
    assert again.status_code == 409
    assert set(again.json()) == {"code", "message", "details"}
    assert again.json()["code"] == "ERR_REVIEW_STATE"


def test_an_edit_with_a_banned_word_is_refused_with_the_findings(desk, as_reviewer):
    from generation.models import BannedWord

    BannedWord.objects.create(term="best")
    review = desk.review()
    answer = as_reviewer.post(f"{API}{review.pk}/edit/", {"content": {"title": "Best bottle"}},
                              content_type="application/json")
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "ERR_REVIEW_EDIT_REJECTED"
    assert "title" in body["details"]["content"]


def test_four_eyes_through_the_api(desk):
    from review import services

    with tenant_scope(desk.tenant):
        services.update_settings(desk.tenant, require_four_eyes=True, by=desk.owner)
    review = desk.review()
    answer = client_for(desk.owner, desk.tenant).post(f"{API}{review.pk}/approve/")
    assert answer.status_code == 403 and answer.json()["code"] == "ERR_REVIEW_FOUR_EYES"


def test_roles_without_review_cannot_decide(desk):
    review = desk.review()
    answer = client_for(desk.operator, desk.tenant).post(f"{API}{review.pk}/approve/")
    assert answer.status_code == 403
    assert client_for(desk.operator, desk.tenant).get(API).status_code == 200  # may read


def test_bulk_approve_reports_what_was_skipped(desk, as_reviewer):
    clean = desk.review(0)
    flagged = desk.review(1, needs_human_check=True)
    answer = as_reviewer.post(f"{API}bulk-approve/", {"ids": [clean.pk, flagged.pk, 999999]},
                              content_type="application/json")
    assert answer.status_code == 200
    body = answer.json()
    assert body["done"] == [clean.pk]
    codes = {row["id"]: row["code"] for row in body["skipped"]}
    assert codes == {flagged.pk: "ERR_REVIEW_NEEDS_CHECK", 999999: "not_found"}


def test_regenerate_through_the_api(desk, as_reviewer):
    review = desk.review()
    answer = as_reviewer.post(f"{API}{review.pk}/regenerate/", {"note": "Shorter"},
                              content_type="application/json")
    assert answer.status_code == 200
    assert answer.json()["status"] == "regeneration_requested"
    assert answer.json()["regeneration_note"] == "Shorter"


def test_publish_and_its_status_through_the_api(
        sandbox_desk, sandbox, eager_celery, django_capture_on_commit_callbacks):
    client = client_for(sandbox_desk.reviewer, sandbox_desk.tenant)
    review = sandbox_desk.review()
    script = sandbox_desk.review(1, kind="livestream_script")
    for item in (review, script):
        client.post(f"{API}{item.pk}/approve/")
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"{API}publish/", {"ids": [review.pk, script.pk]},
                             content_type="application/json")
    assert answer.status_code == 202
    assert answer.json()["done"] == [review.pk]
    assert answer.json()["skipped"][0]["code"] == "ERR_REVIEW_NOT_PUBLISHED_KIND"
    [update] = sandbox.state.updates
    assert update["ai_assisted"] is True
    status = client.get(f"{API}publish-status/").json()["results"]
    assert [row["id"] for row in status] == [review.pk]
    assert status[0]["status"] == "published"
    assert status[0]["publish"]["request_id"] == update["request_id"]
    counts = client.get(f"{API}counts/").json()
    assert counts["published"] == 1 and counts["approved"] == 1


def test_a_reviewer_api_key_can_drive_the_workflow(desk):
    with tenant_scope(desk.tenant):
        key = api_keys.create_api_key(created_by=desk.owner, name="ERP",
                                      role=TenantRole.REVIEWER)
    review = desk.review()
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key.raw_key}")
    assert client.get(API).json()["results"][0]["id"] == review.pk
    assert client.post(f"{API}{review.pk}/approve/").json()["status"] == "approved"


def test_another_tenant_cannot_see_or_decide(desk, tenant_b, owner_b):
    review = desk.review()
    outsider = client_for(owner_b, tenant_b)
    assert outsider.get(API).json()["results"] == []
    assert outsider.get(f"{API}{review.pk}/").status_code == 404
    assert outsider.get(f"{API}{review.pk}/history/").status_code == 404
    for name in ("approve", "edit", "reject", "regenerate"):
        answer = outsider.post(f"{API}{review.pk}/{name}/", {"reason": "x"},
                               content_type="application/json")
        assert answer.status_code == 404, name
        assert answer.json()["code"] == "not_found"
    bulk = outsider.post(f"{API}bulk-approve/", {"ids": [review.pk]},
                         content_type="application/json").json()
    assert bulk["done"] == [] and bulk["skipped"][0]["code"] == "not_found"
    published = outsider.post(f"{API}publish/", {"ids": [review.pk]},
                              content_type="application/json").json()
    assert published["done"] == []
    assert outsider.get(f"{API}counts/").json()["pending"] == 0
    review.refresh_from_db()
    assert review.status == Status.PENDING


def test_the_item_shows_the_listing_and_the_ai_text_with_a_diff(desk, as_reviewer):
    review = desk.review(content={"title": "Original listing title, now insulated"})
    body = as_reviewer.get(f"{API}{review.pk}/").json()
    comparison = body["comparison"]
    assert comparison["original_text"] == "Original listing title"
    assert comparison["ai_text"] == "Original listing title, now insulated"
    assert comparison["original_to_ai"] == [["equal", "Original listing "], ["delete", "title"],
                                            ["insert", "title, now insulated"]]
    assert comparison["ai_to_current"] == []


def test_review_settings_are_read_by_members_and_changed_by_owners(desk, as_reviewer):
    assert as_reviewer.get("/api/v1/review-settings/").json() == {"require_four_eyes": False}
    refused = as_reviewer.put("/api/v1/review-settings/", {"require_four_eyes": True},
                              content_type="application/json")
    assert refused.status_code == 403
    owner = client_for(desk.owner, desk.tenant)
    changed = owner.put("/api/v1/review-settings/", {"require_four_eyes": True},
                        content_type="application/json")
    assert changed.status_code == 200 and changed.json() == {"require_four_eyes": True}
    assert as_reviewer.get("/api/v1/review-settings/").json() == {"require_four_eyes": True}


def test_review_settings_are_per_company(desk, tenant_b, owner_b):
    client_for(desk.owner, desk.tenant).put("/api/v1/review-settings/",
                                            {"require_four_eyes": True},
                                            content_type="application/json")
    other = client_for(owner_b, tenant_b).get("/api/v1/review-settings/")
    assert other.json() == {"require_four_eyes": False}
