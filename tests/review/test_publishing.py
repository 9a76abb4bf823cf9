"""Publishing approved items to the real marketplace sandbox, always with the AI-assisted flag;
the store's state first; errors with their codes; retry after the fix; the AI share."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from marketplaces.connectors import transport
from portal.error_codes import explain
from review import publishing, services
from review.models import Review
from sandbox import pool, shops
from stores import services as store_services
from stores.models import Store
from tenants.scope import tenant_scope

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

Status = Review.Status


@pytest.fixture
def http_calls(monkeypatch) -> list[str]:
    """Every HTTP request the connectors send (to tell "no marketplace call at all")."""
    calls: list[str] = []
    original = transport.Transport.post

    def post(self, url, **kwargs):
        calls.append(url)
        return original(self, url, **kwargs)

    monkeypatch.setattr(transport.Transport, "post", post)
    return calls


def approved(desk, index: int = 0, **kwargs) -> Review:
    review = desk.review(index, **kwargs)
    with tenant_scope(desk.tenant):
        return services.approve(review, by=desk.reviewer)


def publish(desk, reviews, capture, *, by=None):
    with capture(execute=True), tenant_scope(desk.tenant):
        result = publishing.queue_publication(reviews, by=by or desk.reviewer)
    for review in reviews:
        review.refresh_from_db()
    return result


def goods_id(index: int) -> int:
    return pool.goods_id_for(shops.TEMU_SHOP_300, index)


def test_an_approved_title_is_published_with_the_ai_flag(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    review = approved(sandbox_desk)
    result = publish(sandbox_desk, [review], django_capture_on_commit_callbacks)
    assert result.queued == [review.pk] and result.batches == 1
    [update] = sandbox.state.updates_for(goods_id(0))
    assert update["ai_assisted"] is True
    assert update["title"] == review.ai_content["title"]
    assert update["language"] == "en"
    assert review.status == Status.PUBLISHED
    assert review.publish_request_id == update["request_id"]
    assert review.publish_attempts == 1 and not review.publish_pending
    assert review.ai_share == Decimal(1)
    assert review.published_content == review.ai_content
    event = AuditEvent.unscoped.get(tenant=sandbox_desk.tenant, action=services.ACTION_PUBLISHED)
    assert event.details["ai_assisted"] is True
    assert event.actor == sandbox_desk.reviewer
    assert AuditEvent.unscoped.filter(action=services.ACTION_PUBLISH_QUEUED).count() == 1


def test_each_kind_goes_to_its_listing_field_with_the_flag(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    bullets = approved(sandbox_desk, 0, kind="bullet_points")
    terms = approved(sandbox_desk, 1, kind="search_terms")
    modules = approved(sandbox_desk, 2, kind="detail_modules")
    publish(sandbox_desk, [bullets, terms, modules], django_capture_on_commit_callbacks)
    [first] = sandbox.state.updates_for(goods_id(0))
    [second] = sandbox.state.updates_for(goods_id(1))
    [third] = sandbox.state.updates_for(goods_id(2))
    assert first["bullet_points"] == bullets.ai_content["bullet_points"]
    assert second["search_terms"] == terms.ai_content["search_terms"]
    assert third["description"] == ("Cold for a day\nVacuum walls keep ice for 24 hours.\n\n"
                                    "Built to last\nBrushed 18/8 steel resists dents and rust.")
    assert third["title"] is None
    assert all(update["ai_assisted"] is True for update in sandbox.state.updates)
    assert {r.status for r in (bullets, terms, modules)} == {Status.PUBLISHED}


def test_an_edited_text_is_published_with_its_ai_share(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    review = sandbox_desk.review(kind="bullet_points")
    edited = dict(review.ai_content)
    edited["bullet_points"] = [*edited["bullet_points"][:3], "Backed by a two-year warranty"]
    with tenant_scope(sandbox_desk.tenant):
        review = services.edit_and_approve(review, content=edited, by=sandbox_desk.reviewer)
    publish(sandbox_desk, [review], django_capture_on_commit_callbacks)
    [update] = sandbox.state.updates_for(goods_id(0))
    assert update["bullet_points"][-1] == "Backed by a two-year warranty"
    assert update["ai_assisted"] is True
    assert Decimal("0.5") < review.ai_share < Decimal(1)


def test_scripts_are_not_published_and_say_why(
        sandbox_desk, sandbox, http_calls, django_capture_on_commit_callbacks):
    script = approved(sandbox_desk, 0, kind="video_script")
    image = approved(sandbox_desk, 1, kind="image_description")
    result = publish(sandbox_desk, [script, image], django_capture_on_commit_callbacks)
    assert result.queued == []
    assert result.skipped[script.pk]["code"] == "ERR_REVIEW_NOT_PUBLISHED_KIND"
    assert result.skipped[image.pk]["code"] == "ERR_REVIEW_NOT_PUBLISHED_KIND"
    assert result.skipped[script.pk]["message"] == explain(
        "ERR_REVIEW_NOT_PUBLISHED_KIND")
    assert http_calls == [] and sandbox.state.updates == []
    assert script.status == Status.APPROVED


def test_only_approved_items_are_published(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    pending = sandbox_desk.review()
    result = publish(sandbox_desk, [pending], django_capture_on_commit_callbacks)
    assert result.skipped[pending.pk]["code"] == "ERR_REVIEW_STATE"
    assert sandbox.state.updates == []


@pytest.mark.parametrize("status, code", [
    (Store.Status.TOKEN_EXPIRED, "ERR_TOKEN_EXPIRED"),
    (Store.Status.IP_NOT_WHITELISTED, "ERR_IP_NOT_WHITELISTED"),
    (Store.Status.PERMISSION_DENIED, "ERR_TEMU_403"),
    (Store.Status.REVOKED, "ERR_REVIEW_STORE_NOT_CONNECTED"),
])
def test_a_store_that_cannot_publish_is_not_called_and_says_why(
        sandbox_desk, sandbox, http_calls, django_capture_on_commit_callbacks, status, code):
    review = approved(sandbox_desk)
    with tenant_scope(sandbox_desk.tenant):
        store_services.set_status(sandbox_desk.store, status)
    http_calls.clear()
    result = publish(sandbox_desk, [review], django_capture_on_commit_callbacks)
    assert result.skipped[review.pk]["code"] == code
    assert result.skipped[review.pk]["message"]
    assert http_calls == [] and sandbox.state.updates == []
    assert review.status == Status.APPROVED and not review.publish_pending


def test_a_token_past_its_expiry_is_caught_before_any_call(
        sandbox_desk, sandbox, http_calls, django_capture_on_commit_callbacks):
    review = approved(sandbox_desk)
    Store.unscoped.filter(pk=sandbox_desk.store.pk).update(
        token_expires_at=timezone.now() - timezone.timedelta(minutes=1))
    with tenant_scope(sandbox_desk.tenant):
        result = publishing.queue_publication([review], by=sandbox_desk.reviewer)
    assert result.skipped[review.pk]["code"] == "ERR_TOKEN_EXPIRED"
    assert result.skipped[review.pk]["message"] == explain("ERR_TOKEN_EXPIRED")
    assert http_calls == []


def test_a_store_that_breaks_after_queuing_fails_its_items_without_calls(
        sandbox_desk, sandbox, http_calls, django_capture_on_commit_callbacks):
    reviews = [approved(sandbox_desk, index) for index in range(2)]
    with tenant_scope(sandbox_desk.tenant):
        publishing.queue_publication(reviews, by=sandbox_desk.reviewer)  # not run: no capture
        store_services.set_status(sandbox_desk.store, Store.Status.IP_NOT_WHITELISTED)
        http_calls.clear()
        publishing.publish_batch(sandbox_desk.store, [r.pk for r in reviews])
    for review in reviews:
        review.refresh_from_db()
        assert review.status == Status.PUBLISH_FAILED
        assert review.publish_error_code == "ERR_IP_NOT_WHITELISTED"
        assert review.publish_error_message == explain("ERR_IP_NOT_WHITELISTED")
    assert http_calls == []


def test_a_missing_ip_whitelist_entry_fails_with_its_code_and_the_store_follows(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    reviews = [approved(sandbox_desk, index) for index in range(3)]
    sandbox.state.set_ip_whitelist(shops.TEMU_SHOP_300, ["203.0.113.9"])
    publish(sandbox_desk, reviews, django_capture_on_commit_callbacks)
    assert {r.publish_error_code for r in reviews} == {"ERR_IP_NOT_WHITELISTED"}
    assert {r.status for r in reviews} == {Status.PUBLISH_FAILED}
    store = Store.unscoped.get(pk=sandbox_desk.store.pk)
    assert store.status == Store.Status.IP_NOT_WHITELISTED
    assert sandbox.state.updates == []


def test_a_403_gives_err_temu_403_and_is_retried_after_reauthorizing(
        sandbox_desk, sandbox, http_calls, django_capture_on_commit_callbacks):
    reviews = [approved(sandbox_desk, index) for index in range(3)]
    sandbox.state.fail_next("permission_denied")
    http_calls.clear()
    publish(sandbox_desk, reviews, django_capture_on_commit_callbacks)
    assert [r.status for r in reviews] == [Status.PUBLISH_FAILED] * 3
    assert {r.publish_error_code for r in reviews} == {"ERR_TEMU_403"}
    assert len(http_calls) == 1, "after a store-level refusal the batch stops calling"
    store = Store.unscoped.get(pk=sandbox_desk.store.pk)
    assert store.status == Store.Status.PERMISSION_DENIED
    assert store.last_error_code == "ERR_TEMU_403"
    failed = AuditEvent.unscoped.filter(action=services.ACTION_PUBLISH_FAILED)
    assert failed.count() == 3 and failed.first().details["error_code"] == "ERR_TEMU_403"

    # Still refused while the store is in that state.
    again = publish(sandbox_desk, reviews, django_capture_on_commit_callbacks)
    assert again.queued == [] and sandbox.state.updates == []

    # The seller re-authorizes; the failed items are published on retry.
    code = sandbox.state.issue_code(shops.TEMU_SHOP_300)
    with tenant_scope(sandbox_desk.tenant):
        store_services.reauthorize_store(store, authorization_code=code, by=sandbox_desk.owner)
    retried = publish(sandbox_desk, reviews, django_capture_on_commit_callbacks)
    assert sorted(retried.queued) == sorted(r.pk for r in reviews)
    assert [r.status for r in reviews] == [Status.PUBLISHED] * 3
    assert all(r.publish_attempts == 2 and r.publish_error_code == "" for r in reviews)
    assert len(sandbox.state.updates) == 3
    assert all(update["ai_assisted"] is True for update in sandbox.state.updates)


def test_publishing_is_idempotent(sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    review = approved(sandbox_desk)
    publish(sandbox_desk, [review], django_capture_on_commit_callbacks)
    with tenant_scope(sandbox_desk.tenant):
        # A redelivered task finds the item done; a second request refuses it.
        assert publishing.publish_batch(sandbox_desk.store, [review.pk]) == []
        result = publishing.queue_publication([review], by=sandbox_desk.reviewer)
    assert result.skipped[review.pk]["code"] == "ERR_REVIEW_STATE"
    assert len(sandbox.state.updates) == 1


def test_items_are_published_in_batches_per_store(
        sandbox_desk, sandbox, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(publishing, "BATCH_SIZE", 2)
    reviews = [approved(sandbox_desk, index) for index in range(5)]
    result = publish(sandbox_desk, reviews, django_capture_on_commit_callbacks)
    assert result.batches == 3
    assert {r.status for r in reviews} == {Status.PUBLISHED}
    assert len(sandbox.state.updates) == 5


def test_publishing_needs_a_role_that_may_publish(sandbox_desk, tenant_a):
    from tenants.roles import TenantRole
    from tests.conftest import add_member

    viewer = add_member(tenant_a, TenantRole.VIEWER)
    review = approved(sandbox_desk)
    with tenant_scope(tenant_a), pytest.raises(services.ReviewError) as refused:
        publishing.queue_publication([review], by=viewer)
    assert refused.value.code == "ERR_REVIEW_NOT_ALLOWED"
    with tenant_scope(tenant_a):  # an operator may publish what reviewers approved
        result = publishing.queue_publication([review], by=sandbox_desk.operator)
    assert result.queued == [review.pk]


def test_ai_share_counts_words_kept_from_the_ai_output():
    ai = {"title": "Insulated steel water bottle 750 ml leak proof"}
    assert publishing.ai_share("title", ai, ai) == Decimal(1)
    assert publishing.ai_share("title", ai, {"title": "Insulated steel water bottle 750 ml"}) \
        == Decimal(1)
    assert publishing.ai_share("title", ai, {"title": "Insulated steel bottle 500 ml"}) \
        == Decimal("0.8")  # 4 of 5 words kept
    assert publishing.ai_share("title", ai, {"title": "Completely different words"}) == 0


def test_the_update_always_carries_the_flag():
    for kind in ("title", "bullet_points", "search_terms", "detail_modules"):
        from tests.review.conftest import CONTENT

        assert publishing.content_update_for(kind, "en", CONTENT[kind]).ai_assisted is True
    with pytest.raises(services.ReviewError):
        publishing.content_update_for("livestream_script", "en", {})


def test_an_unexpected_failure_does_not_leave_the_item_queued(
        sandbox_desk, sandbox, monkeypatch, django_capture_on_commit_callbacks):
    from marketplaces.connectors.temu import TemuConnector

    def broken(self, marketplace_id, update):
        raise RuntimeError("connector bug")

    monkeypatch.setattr(TemuConnector, "update_content", broken)
    review = approved(sandbox_desk)
    publish(sandbox_desk, [review], django_capture_on_commit_callbacks)
    assert review.status == Status.PUBLISH_FAILED and not review.publish_pending
    assert review.publish_error_code == "ERR_MARKETPLACE_UNAVAILABLE"
