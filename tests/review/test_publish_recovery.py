"""Publishing always ends: a publish attempt holds a lease; housekeeping (or a person publishing
again) takes over an attempt whose lease ran out; before sending again the listing is read, so a
text is never sent twice and never recorded as unpublished when it reached the marketplace.

An attempt that "died" is set up the way a killed worker leaves it: the task's message never
runs (on-commit callbacks captured, not executed), the item is claimed by an attempt whose lease
has run out, and, where it matters, the write was marked as sent and really reached the sandbox.
(The same with a real worker process and SIGKILL: test_publish_worker.py.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from review import publishing, services
from review.models import Review
from sandbox import pool, shops
from stores import services as store_services
from tenants.scope import tenant_scope

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

Status = Review.Status


def approved(desk, index: int = 0, **kwargs) -> Review:
    review = desk.review(index, **kwargs)
    with tenant_scope(desk.tenant):
        return services.approve(review, by=desk.reviewer)


def queue_without_running(desk, reviews, capture) -> None:
    """Queue, but the task is lost (its worker died before or while running it)."""
    with capture(execute=False), tenant_scope(desk.tenant):
        result = publishing.queue_publication(reviews, by=desk.reviewer)
    assert sorted(result.queued) == sorted(review.pk for review in reviews)


def die_mid_attempt(review: Review, *, wrote: bool, sandbox=None) -> None:
    """The state a worker killed mid-write leaves: claimed, lease over, write marked as sent;
    with `wrote`, the update also reached the marketplace (its answer never came back)."""
    review.refresh_from_db()
    if wrote:
        update = publishing.content_update_for(review.item.kind, review.item.language,
                                               review.current_content)
        with tenant_scope(review.tenant):
            connector = store_services.connector_for_store(review.store)
            connector.update_content(review.item.product.marketplace_id, update)
    Review.unscoped.filter(pk=review.pk).update(
        publish_claim="dead-worker", publish_attempts=1,
        publish_lease_expires_at=timezone.now() - timedelta(seconds=1),
        publish_write_sent_at=timezone.now() - timedelta(seconds=5))


def listing_calls(sandbox) -> list[str]:
    """The APIs the store called (not the token exchange that connected it)."""
    return [request["api"] for request in sandbox.state.requests
            if request["api"] != "bg.open.accesstoken.create"]


def goods_id(index: int) -> int:
    return pool.goods_id_for(shops.TEMU_SHOP_300, index)


def published_event(review: Review) -> AuditEvent:
    return AuditEvent.unscoped.get(action=services.ACTION_PUBLISHED,
                                   target=f"item #{review.item_id}")


def test_publishing_again_takes_over_a_dead_attempt_and_reads_the_listing_first(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    """The reported case: the task died after its write reached the marketplace. Publishing
    again is accepted (it was refused: "already queued"), and the item is recorded as
    published from the listing's content without a second update."""
    review = approved(sandbox_desk)
    queue_without_running(sandbox_desk, [review], django_capture_on_commit_callbacks)
    die_mid_attempt(review, wrote=True)
    assert len(sandbox.state.updates_for(goods_id(0))) == 1

    with django_capture_on_commit_callbacks(execute=True), tenant_scope(sandbox_desk.tenant):
        again = publishing.queue_publication([review], by=sandbox_desk.reviewer)
    assert again.queued == [review.pk], again.skipped

    review.refresh_from_db()
    assert review.status == Status.PUBLISHED and not review.publish_pending
    assert review.published_content == review.ai_content
    assert review.publish_attempts == 2
    assert len(sandbox.state.updates_for(goods_id(0))) == 1, "the text was sent twice"
    assert published_event(review).details["confirmed_by_reading_listing"] is True
    assert listing_calls(sandbox) == ["bg.local.goods.partial.update",  # the dead worker's
                                      "bg.local.goods.detail.query"]  # read, not sent again


def test_housekeeping_takes_over_an_expired_lease_and_sends_what_never_landed(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    landed, lost, waiting = (approved(sandbox_desk, index) for index in range(3))
    queue_without_running(sandbox_desk, [landed, lost, waiting],
                          django_capture_on_commit_callbacks)
    die_mid_attempt(landed, wrote=True)
    die_mid_attempt(lost, wrote=False)  # killed after marking, before the request left
    # `waiting`: queued, never picked up; its wait for a worker is not over yet.

    with django_capture_on_commit_callbacks(execute=True):
        assert publishing.recover_stalled_publications() == 2
    for review in (landed, lost, waiting):
        review.refresh_from_db()
    assert (landed.status, lost.status) == (Status.PUBLISHED, Status.PUBLISHED)
    assert waiting.publish_pending and waiting.status == Status.APPROVED
    assert len(sandbox.state.updates_for(goods_id(0))) == 1
    assert len(sandbox.state.updates_for(goods_id(1))) == 1
    assert published_event(landed).details["confirmed_by_reading_listing"] is True
    assert published_event(lost).details["confirmed_by_reading_listing"] is False

    # Later, the queued item's wait is over too: housekeeping sends it.
    with django_capture_on_commit_callbacks(execute=True):
        later = timezone.now() + timedelta(seconds=publishing.settings
                                           .PUBLISH_DISPATCH_LEASE_SECONDS + 1)
        assert publishing.recover_stalled_publications(now=later) == 1
    waiting.refresh_from_db()
    assert waiting.status == Status.PUBLISHED
    assert len(sandbox.state.updates) == 3


def test_a_live_attempt_is_left_alone(sandbox_desk, sandbox,
                                      django_capture_on_commit_callbacks):
    review = approved(sandbox_desk)
    queue_without_running(sandbox_desk, [review], django_capture_on_commit_callbacks)
    Review.unscoped.filter(pk=review.pk).update(
        publish_claim="live-worker", publish_lease_expires_at=timezone.now() + timedelta(
            seconds=60))
    with django_capture_on_commit_callbacks(execute=True):
        assert publishing.recover_stalled_publications() == 0
        with tenant_scope(sandbox_desk.tenant):
            again = publishing.queue_publication([review], by=sandbox_desk.reviewer)
    assert again.queued == []
    assert again.skipped[review.pk]["code"] == "ERR_REVIEW_STATE"
    # A redelivered copy of the batch finds the item held by the live attempt: no call.
    with tenant_scope(sandbox_desk.tenant):
        assert publishing.publish_batch(sandbox_desk.store, [review.pk]) == []
    assert sandbox.state.updates == [] and listing_calls(sandbox) == []


def test_a_write_whose_answer_is_lost_is_recorded_as_published(
        sandbox_desk, sandbox, settings, django_capture_on_commit_callbacks):
    """The update lands but its answer comes after the client's timeout: the listing is read
    and the item is published (it was recorded as failed although it was on the listing)."""
    settings.MARKETPLACE_TIMEOUT_SECONDS = 0.5
    sandbox.state.update_answer_delay_seconds = 1.5
    review = approved(sandbox_desk)
    with django_capture_on_commit_callbacks(execute=True), tenant_scope(sandbox_desk.tenant):
        publishing.queue_publication([review], by=sandbox_desk.reviewer)
    review.refresh_from_db()
    assert review.status == Status.PUBLISHED, review.publish_error_code
    assert len(sandbox.state.updates_for(goods_id(0))) == 1
    assert published_event(review).details["confirmed_by_reading_listing"] is True


def test_a_write_that_did_not_land_fails_with_its_code_and_is_sent_once_on_retry(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    # Search terms: Temu's vocabulary check does not cover them, so the update is the first
    # request, and the one that fails.
    review = approved(sandbox_desk, kind="search_terms")
    sandbox.state.fail_next("connection_reset", marketplace="temu")
    with django_capture_on_commit_callbacks(execute=True), tenant_scope(sandbox_desk.tenant):
        publishing.queue_publication([review], by=sandbox_desk.reviewer)
    review.refresh_from_db()
    assert review.status == Status.PUBLISH_FAILED
    assert review.publish_error_code == "ERR_MARKETPLACE_UNAVAILABLE"
    assert review.publish_write_sent_at is None and sandbox.state.updates == []
    assert listing_calls(sandbox) == ["bg.local.goods.detail.query"]  # landed? no

    with django_capture_on_commit_callbacks(execute=True), tenant_scope(sandbox_desk.tenant):
        publishing.queue_publication([review], by=sandbox_desk.reviewer)
    review.refresh_from_db()
    assert review.status == Status.PUBLISHED
    assert len(sandbox.state.updates) == 1


def test_when_the_listing_cannot_be_read_the_item_fails_unconfirmed_and_checks_again(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    review = approved(sandbox_desk)
    queue_without_running(sandbox_desk, [review], django_capture_on_commit_callbacks)
    die_mid_attempt(review, wrote=True)
    sandbox.state.fail_next("html", marketplace="temu")  # the goods-detail read
    with django_capture_on_commit_callbacks(execute=True):
        publishing.recover_stalled_publications()
    review.refresh_from_db()
    assert review.status == Status.PUBLISH_FAILED
    assert review.publish_error_code == "ERR_PUBLISH_UNCONFIRMED"
    assert review.publish_write_sent_at is not None  # still in doubt

    with django_capture_on_commit_callbacks(execute=True), tenant_scope(sandbox_desk.tenant):
        publishing.queue_publication([review], by=sandbox_desk.reviewer)
    review.refresh_from_db()
    assert review.status == Status.PUBLISHED
    assert len(sandbox.state.updates) == 1


def test_the_housekeeping_schedule_exists():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func="review.publishing.recover_stalled_publications")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 1, -1)


def test_the_item_page_offers_to_publish_a_stalled_item_again(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    from django.urls import reverse

    from tests.conftest import english_client

    review = approved(sandbox_desk)
    queue_without_running(sandbox_desk, [review], django_capture_on_commit_callbacks)
    client = english_client(sandbox_desk.reviewer, sandbox_desk.tenant)
    page = client.get(reverse("review_item", args=[review.pk])).content.decode()
    assert 'id="publish-form"' not in page and "publish-stalled" not in page  # still live

    die_mid_attempt(review, wrote=True)
    page = client.get(reverse("review_item", args=[review.pk])).content.decode()
    assert "publish-stalled" in page and 'id="publish-form"' in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("review_publish", args=[review.pk]))
    review.refresh_from_db()
    assert review.status == Status.PUBLISHED
    assert len(sandbox.state.updates) == 1


def test_a_bug_before_the_call_ends_the_item_instead_of_retrying_it_for_ever(
        sandbox_desk, sandbox, monkeypatch, django_capture_on_commit_callbacks):
    def broken(review, content):
        raise RuntimeError("filter bug")

    monkeypatch.setattr(publishing, "_our_findings", broken)
    first, second = approved(sandbox_desk, 0), approved(sandbox_desk, 1)
    with django_capture_on_commit_callbacks(execute=True), tenant_scope(sandbox_desk.tenant):
        publishing.queue_publication([first, second], by=sandbox_desk.reviewer)
    for review in (first, second):
        review.refresh_from_db()
        assert review.status == Status.PUBLISH_FAILED and not review.publish_pending
        assert review.publish_error_code == "ERR_MARKETPLACE_UNAVAILABLE"
    assert publishing.recover_stalled_publications() == 0


def test_an_item_whose_workers_keep_dying_ends_after_a_bounded_number_of_takeovers(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    review = approved(sandbox_desk)
    queue_without_running(sandbox_desk, [review], django_capture_on_commit_callbacks)
    for takeover in range(publishing.MAX_TAKEOVERS):
        die_mid_attempt(review, wrote=False)
        with django_capture_on_commit_callbacks(execute=False):  # each new worker dies too
            assert publishing.recover_stalled_publications() == 1
        review.refresh_from_db()
        assert review.publish_pending and review.publish_takeovers == takeover + 1
    die_mid_attempt(review, wrote=False)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert publishing.recover_stalled_publications() == 0
    assert sent == []
    review.refresh_from_db()
    assert review.status == Status.PUBLISH_FAILED and not review.publish_pending
    assert review.publish_error_code == "ERR_PUBLISH_STALLED"
    assert review.publish_write_sent_at is not None  # publishing again reads first

    with django_capture_on_commit_callbacks(execute=True), tenant_scope(sandbox_desk.tenant):
        publishing.queue_publication([review], by=sandbox_desk.reviewer)
    review.refresh_from_db()
    assert review.status == Status.PUBLISHED and review.publish_takeovers == 0
    assert listing_calls(sandbox)[0] == "bg.local.goods.detail.query"
    assert len(sandbox.state.updates) == 1


def test_items_left_publishing_before_recovery_existed_are_read_before_sending(
        sandbox_desk, sandbox, django_capture_on_commit_callbacks):
    """The migration: a legacy stuck item (no lease) whose update had in fact landed."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "review.migrations.0007_publish_takeovers_and_legacy_in_doubt")
    review = approved(sandbox_desk)
    queue_without_running(sandbox_desk, [review], django_capture_on_commit_callbacks)
    die_mid_attempt(review, wrote=True)
    Review.unscoped.filter(pk=review.pk).update(  # as the old code left it
        publish_claim="", publish_lease_expires_at=None, publish_write_sent_at=None,
        publish_queued_at=timezone.now() - timedelta(days=2))

    migration.mark_legacy_pending_in_doubt(apps, None)
    with django_capture_on_commit_callbacks(execute=True):
        assert publishing.recover_stalled_publications() == 1
    review.refresh_from_db()
    assert review.status == Status.PUBLISHED
    assert len(sandbox.state.updates) == 1
    assert published_event(review).details["confirmed_by_reading_listing"] is True
