"""The pipeline end to end in this process: the real openai client against the model sandbox
over HTTP, real PostgreSQL quota, real Redis breakers and slots."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from billing import quota
from billing import services as billing
from billing.models import Reservation, UsageEvent
from catalog.models import QualityFlag
from generation import dispatch, pipeline, services
from generation import nodes as node_module
from generation.content import ContentKind, parse_content
from generation.models import GenerationItem, GenerationJob, ModelRequestLog
from generation.services import JobError, Selection, cancel_job, estimate_job, start_job
from tenants.scope import tenant_scope
from tests.generation.conftest import make_product, make_store, run_job

Status = GenerationItem.Status
pytestmark = pytest.mark.django_db


def start(store, owner, products, *, kinds=("title",), languages=("en",), compliance=False):
    with tenant_scope(store.tenant):
        return start_job(store=store, selection=Selection(product_ids=tuple(p.pk for p in
                                                                             products)),
                         kinds=list(kinds), languages=list(languages),
                         compliance_mode=compliance, by=owner)


def items_of(job) -> list[GenerationItem]:
    return list(GenerationItem.unscoped.filter(job=job).order_by("id"))


def test_job_writes_every_item_and_charges_each_once(store, owner_a, products, nodes,
                                                     model_sandbox):
    job = start(store, owner_a, products, kinds=("title", "bullet_points"),
                languages=("en", "fr"))
    assert job.items_total == 12 and job.status == GenerationJob.Status.QUEUED

    job = run_job(job)

    assert job.status == GenerationJob.Status.COMPLETED
    assert (job.items_succeeded, job.items_failed) == (12, 0)
    for item in items_of(job):
        assert item.status == Status.READY
        assert item.node == nodes["primary"]
        assert item.instruction_version.status == "published"
        parse_content(item.kind, json.dumps(item.content))
    assert UsageEvent.unscoped.filter(store=store).count() == 12
    logs = list(ModelRequestLog.unscoped.filter(job=job).order_by("id"))
    assert len(logs) == 12 and all(log.error_code == "" for log in logs)
    assert all(log.provider_request_id for log in logs)
    # Same instructions first, product data last: every request after the first of a kind
    # hits the provider's prompt cache for the instruction part.
    assert sum(log.cache_hit_tokens for log in logs[1:]) > 0
    assert logs[-1].cache_hit_tokens > logs[-1].prompt_tokens // 2
    log = logs[-1]
    expected = (log.cache_hit_tokens * Decimal("0.5")
                + (log.prompt_tokens - log.cache_hit_tokens) * Decimal("2")
                + log.completion_tokens * Decimal("8")) / Decimal(1_000_000)
    assert log.cost == expected.quantize(Decimal("0.000001")) and log.cost > 0


def test_requests_put_the_instructions_first_and_the_product_last(store, owner_a, nodes,
                                                                   model_sandbox):
    bottle = make_product(store)
    mug = make_product(store, title="Ceramic Coffee Mug 350 ml Dishwasher Safe Matte White")
    run_job(start(store, owner_a, [bottle, mug]))
    first, second = [entry["messages"] for entry in model_sandbox.state.requests_for(
        "deepseek-chat")][-2:]
    assert first[0]["role"] == "system" and first[0] == second[0]
    assert first[-1]["role"] == "user" and first[-1]["content"].startswith("Content kind: title")
    assert first[-1] != second[-1]


def test_french_items_are_asked_in_french(store, owner_a, products, nodes, model_sandbox):
    run_job(start(store, owner_a, products[:1], languages=("fr",)))
    message = model_sandbox.state.requests_for("deepseek-chat")[-1]["messages"][-1]["content"]
    assert "Output language: fr (Français)" in message


def test_input_problems_fail_before_quota_or_model(store, owner_a, nodes, model_sandbox):
    low = make_product(store, flags=[QualityFlag.LOW_RESOLUTION_IMAGE])
    vague = make_product(store, flags=[QualityFlag.FEW_ATTRIBUTE_WORDS])
    job = start(store, owner_a, [low, vague], kinds=("title", "image_description"))
    by_key = {(item.product_id, item.kind): item for item in items_of(job)}
    assert by_key[(low.pk, "image_description")].error_code == "ERR_VS_402"
    assert by_key[(vague.pk, "title")].error_code == "ERR_INPUT_TITLE_ATTRIBUTES"
    assert job.items_failed == 2

    job = run_job(job)
    assert job.status == GenerationJob.Status.COMPLETED_WITH_ERRORS
    assert UsageEvent.unscoped.filter(store=store).count() == 2
    assert Reservation.unscoped.filter(store=store).count() == 2
    # The image description went to the vision node, with the image.
    image_item = by_key[(vague.pk, "image_description")]
    image_item.refresh_from_db()
    assert image_item.status == Status.READY and image_item.node == nodes["vision"]


def test_a_timeout_on_the_primary_switches_to_the_backup(store, owner_a, products, nodes,
                                                        model_sandbox):
    nodes["primary"].request_deadline_seconds = Decimal("1")
    nodes["primary"].save()
    model_sandbox.state.set_behaviour("deepseek-chat", count=1, hang=True)
    began = time.monotonic()
    job = run_job(start(store, owner_a, products[:1]))
    assert time.monotonic() - began < 8  # the keep-alive blank lines did not hold us

    item = items_of(job)[0]
    assert item.status == Status.READY and item.node == nodes["backup"]
    failed, succeeded = ModelRequestLog.unscoped.filter(item=item).order_by("attempt")
    assert failed.error_code == "ERR_MODEL_TIMEOUT" and failed.node == nodes["primary"]
    assert 900 <= failed.latency_ms < 3000
    assert succeeded.error_code == "" and succeeded.node == nodes["backup"]
    assert item.model_attempts == 2
    assert UsageEvent.unscoped.filter(item_key=item.quota_key).count() == 1


@pytest.mark.parametrize("behaviour, code", [
    ({"status": 503}, "ERR_MODEL_UNAVAILABLE"),
    ({"status": 500}, "ERR_MODEL_UNAVAILABLE"),
    ({"status": 429}, "ERR_MODEL_RATE_LIMITED"),
    ({"status": 402}, "ERR_MODEL_PAYMENT_REQUIRED"),
    ({"connection_reset": True}, "ERR_MODEL_UNAVAILABLE"),
])
def test_node_failures_switch_to_the_backup(store, owner_a, products, nodes, model_sandbox,
                                            behaviour, code):
    model_sandbox.state.set_behaviour("deepseek-chat", count=1, **behaviour)
    item = items_of(run_job(start(store, owner_a, products[:1])))[0]
    assert item.status == Status.READY and item.node == nodes["backup"]
    codes = list(ModelRequestLog.unscoped.filter(item=item).order_by("attempt")
                 .values_list("error_code", "http_status"))
    assert codes[0][0] == code and codes[1] == ("", 200)


def test_blank_or_invalid_json_is_asked_again(store, owner_a, products, nodes, model_sandbox):
    model_sandbox.state.set_behaviour("deepseek-chat", count=1, blank=True)
    model_sandbox.state.set_behaviour("deepseek-chat", count=1, invalid_json=True)
    item = items_of(run_job(start(store, owner_a, products[:1])))[0]
    assert item.status == Status.READY and item.node == nodes["primary"]
    assert list(ModelRequestLog.unscoped.filter(item=item).order_by("attempt")
                .values_list("error_code", flat=True)) == [
        "ERR_MODEL_INVALID_OUTPUT", "ERR_MODEL_INVALID_OUTPUT", ""]


def test_every_node_failing_fails_the_item_and_releases_its_call(store, owner_a, products,
                                                                  nodes, model_sandbox):
    model_sandbox.state.set_behaviour("*", status=503)
    job = run_job(start(store, owner_a, products[:1]))
    item = items_of(job)[0]
    assert item.status == Status.FAILED and item.error_code == "ERR_MODEL_UNAVAILABLE"
    assert job.status == GenerationJob.Status.FAILED
    assert not UsageEvent.unscoped.filter(store=store).exists()
    assert Reservation.unscoped.get(item_key=item.quota_key).state == "released"


def test_banned_words_reject_the_item_without_charging(store, owner_a, products, nodes,
                                                        model_sandbox):
    model_sandbox.state.set_behaviour("*", banned_words=True)
    with translation.override("en"):  # messages are written in the worker's language
        item = items_of(run_job(start(store, owner_a, products[:1])))[0]
    assert item.status == Status.FAILED and item.error_code == "ERR_CONTENT_REJECTED"
    assert item.rejected_content and item.compliance_hits
    assert item.compliance_hits[0]["rule"] == "banned_word"
    assert "banned-word list" in item.error_message
    assert not UsageEvent.unscoped.filter(store=store).exists()


def test_compliance_mode_regenerates_once_and_flags_for_a_person(store, owner_a, products,
                                                                  nodes, model_sandbox):
    model_sandbox.state.set_behaviour("*", banned_words=True)
    job = run_job(start(store, owner_a, products[:1], compliance=True))
    item = items_of(job)[0]
    assert item.status == Status.READY and item.needs_human_check
    assert item.compliance_hits  # what the first answer hit, for the reviewer
    assert job.items_flagged == 1
    purposes = list(ModelRequestLog.unscoped.filter(item=item).order_by("attempt")
                    .values_list("purpose", flat=True))
    assert purposes == ["generate", "stricter"]
    stricter = model_sandbox.state.requests_for("deepseek-chat")[-1]["messages"][-1]["content"]
    assert "STRICT COMPLIANCE" in stricter
    assert UsageEvent.unscoped.filter(store=store).count() == 1  # one item, one call


def test_regenerating_a_flagged_item_keeps_the_flagged_count(store, owner_a, products, nodes,
                                                             model_sandbox):
    model_sandbox.state.set_behaviour("*", banned_words=True)
    job = run_job(start(store, owner_a, products[:1], compliance=True))
    item = items_of(job)[0]
    assert item.needs_human_check and job.items_flagged == 1

    with tenant_scope(store.tenant):  # sent back; the new answer is flagged again
        services.request_regeneration(item, note="Again", by=owner_a)
    job.refresh_from_db()
    assert (job.items_succeeded, job.items_flagged) == (0, 0)
    job = run_job(job)
    item = items_of(job)[0]
    assert item.status == Status.READY and item.needs_human_check
    assert (job.items_succeeded, job.items_flagged) == (1, 1)

    model_sandbox.state.clear_behaviour()
    with tenant_scope(store.tenant):  # sent back; the new answer is clean
        services.request_regeneration(item, note="Once more", by=owner_a)
    job = run_job(job)
    item = items_of(job)[0]
    assert item.status == Status.READY and not item.needs_human_check
    assert (job.items_succeeded, job.items_flagged) == (1, 0)
    assert job.status == GenerationJob.Status.COMPLETED


def test_compliance_mode_rejects_when_the_stricter_pass_still_fails(store, owner_a, products,
                                                                     nodes, model_sandbox):
    model_sandbox.state.set_behaviour("*", banned_words_always=True)
    item = items_of(run_job(start(store, owner_a, products[:1], compliance=True)))[0]
    assert item.status == Status.FAILED and item.error_code == "ERR_CONTENT_REJECTED"


def test_quota_cap_fails_the_rest_with_the_reset_time(tenant_a, owner_a, small_pack, nodes,
                                                      model_sandbox):
    store = make_store(tenant_a, owner_a)
    billing.subscribe_store(store, small_pack, by=None, daily_overage_cap=1)
    products = [make_product(store) for _ in range(4)]
    with translation.override("en"):  # messages are written in the worker's language
        job = run_job(start(store, owner_a, products))
    statuses = [item.status for item in items_of(job)]
    assert statuses.count(Status.READY) == 3  # 2 included + 1 overage under the cap
    over = [item for item in items_of(job) if item.status == Status.FAILED]
    assert len(over) == 1 and over[0].error_code == "ERR_QUOTA_EXCEEDED"
    assert "reset" in over[0].error_message.lower()
    kinds = sorted(UsageEvent.unscoped.filter(store=store).values_list("kind", flat=True))
    assert kinds == ["included", "included", "overage"]
    assert not ModelRequestLog.unscoped.filter(item=over[0]).exists()


def test_a_store_without_subscription_cannot_start(tenant_a, owner_a, nodes):
    store = make_store(tenant_a, owner_a)
    product = make_product(store)
    with pytest.raises(JobError) as error:
        start(store, owner_a, [product])
    assert error.value.code == "ERR_NO_SUBSCRIPTION"
    assert str(error.value.message)


def test_languages_must_belong_to_the_site(store, owner_a, products, nodes):
    with pytest.raises(JobError) as error:
        start(store, owner_a, products, languages=("ru", "pt"))
    assert error.value.field == "languages"


def test_an_item_runs_once_however_often_it_is_delivered(store, owner_a, products, nodes,
                                                         model_sandbox):
    job = start(store, owner_a, products[:1])
    item = items_of(job)[0]
    assert pipeline.run_item(item.pk).status == Status.READY
    assert pipeline.run_item(item.pk) is None  # redelivered: ended already
    assert len(model_sandbox.state.requests_for("deepseek-chat")) == 1
    assert UsageEvent.unscoped.filter(store=store).count() == 1


def test_a_dead_workers_item_is_recovered_and_charged_once(store, owner_a, products, nodes,
                                                           model_sandbox):
    job = start(store, owner_a, products[:1])
    item = items_of(job)[0]
    # A worker claimed it and reserved its call, then died.
    claimed, _token = pipeline.claim(item.pk)
    quota.reserve_call(store, claimed.quota_key)
    GenerationItem.unscoped.filter(pk=item.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))

    assert dispatch.recover_stalled_items() == 1
    job = run_job(job)
    item.refresh_from_db()
    assert item.status == Status.READY and job.status == GenerationJob.Status.COMPLETED
    assert UsageEvent.unscoped.filter(store=store).count() == 1
    assert Reservation.unscoped.get(item_key=item.quota_key).state == "settled"


def test_the_breaker_takes_a_failing_node_out_and_probes_it_back(store, owner_a, nodes,
                                                                 model_sandbox, fast_breaker):
    primary = nodes["primary"]
    model_sandbox.state.set_behaviour("deepseek-chat", status=503)
    run_job(start(store, owner_a, [make_product(store) for _ in range(2)]))
    assert node_module.breaker_state(primary) == node_module.OPEN
    asked = len(model_sandbox.state.requests_for("deepseek-chat"))

    run_job(start(store, owner_a, [make_product(store)]))
    assert len(model_sandbox.state.requests_for("deepseek-chat")) == asked  # skipped

    # Cooldown over: the next request probes the primary; it works again and is closed.
    model_sandbox.state.clear_behaviour("deepseek-chat")
    node_module.shared_redis().set(f"{node_module.KEY_PREFIX}{primary.pk}:open-until",
                                   time.time() - 1)
    assert node_module.breaker_state(primary) == node_module.HALF_OPEN
    item = items_of(run_job(start(store, owner_a, [make_product(store)])))[0]
    assert item.node == primary
    assert node_module.breaker_state(primary) == node_module.CLOSED


def test_cancel_stops_the_rest(store, owner_a, products, nodes, model_sandbox):
    job = start(store, owner_a, products)
    first = items_of(job)[0]
    pipeline.run_item(first.pk)
    with tenant_scope(store.tenant):
        assert cancel_job(job, by=owner_a) == 2
    job = run_job(job)
    assert job.status == GenerationJob.Status.CANCELLED
    assert (job.items_succeeded, job.items_cancelled) == (1, 2)
    assert len(model_sandbox.state.requests_for("deepseek-chat")) == 1


def test_dispatch_keeps_a_big_job_from_starving_a_small_one(settings, tenant_a, owner_a,
                                                            tenant_b, owner_b, pack, nodes):
    settings.GENERATION_TENANT_WINDOW = 4
    big_store, small_store = make_store(tenant_a, owner_a), make_store(tenant_b, owner_b)
    for store in (big_store, small_store):
        billing.subscribe_store(store, pack, by=None)
    big = start(big_store, owner_a, [make_product(big_store) for _ in range(40)])
    small = start(small_store, owner_b, [make_product(small_store) for _ in range(3)])
    assert len(dispatch.refill(tenant_a.pk)) == 4
    assert dispatch.refill(tenant_a.pk) == []  # the window is full
    assert len(dispatch.refill(tenant_b.pk)) == 3  # the small job is not behind the big one
    in_flight = GenerationItem.unscoped.filter(status=Status.DISPATCHED)
    assert in_flight.filter(job=big).count() == 4 and in_flight.filter(job=small).count() == 3


def test_estimate_counts_calls_problems_and_overage(store, owner_a, nodes):
    good = [make_product(store) for _ in range(2)]
    low = make_product(store, flags=[QualityFlag.LOW_RESOLUTION_IMAGE])
    with tenant_scope(store.tenant):
        estimate = estimate_job(store, Selection(product_ids=tuple(p.pk for p in [*good, low])),
                                [ContentKind.TITLE, ContentKind.IMAGE_DESCRIPTION], ["en", "de"])
    assert (estimate.skus, estimate.items, estimate.calls) == (3, 12, 10)
    assert estimate.input_problems == {"ERR_VS_402": 2}
    assert estimate.included_left == 500 and estimate.overage_calls == 0
    assert estimate.can_start


def test_a_job_over_the_item_cap_is_refused_by_the_estimate_and_the_start(
        monkeypatch, store, owner_a, products, nodes):
    monkeypatch.setattr(services, "MAX_ITEMS_PER_JOB", 3)
    selection = Selection(product_ids=tuple(p.pk for p in products[:2]))
    with tenant_scope(store.tenant), translation.override("en"):
        estimate = estimate_job(store, selection, [ContentKind.TITLE], ["en", "fr"])
        assert estimate.items == 4 and not estimate.can_start
        assert "at most 3 items" in estimate.unusable_reason
        with pytest.raises(JobError) as error:
            start(store, owner_a, products[:2], languages=("en", "fr"))
    assert error.value.message == estimate.unusable_reason
    assert error.value.field == "selection"
    assert not GenerationJob.unscoped.filter(store=store).exists()
    assert not GenerationItem.unscoped.filter(store=store).exists()
    # At the cap is fine.
    with tenant_scope(store.tenant):
        assert estimate_job(store, selection, [ContentKind.TITLE], ["en"]).can_start


def test_every_ending_records_how_many_requests_the_item_took(store, owner_a, nodes,
                                                              model_sandbox):
    model_sandbox.state.set_behaviour("*", status=503)
    failed = items_of(run_job(start(store, owner_a, [make_product(store)])))[0]
    assert failed.status == Status.FAILED and failed.model_attempts == 2  # primary, backup

    model_sandbox.state.clear_behaviour("*")
    model_sandbox.state.set_behaviour("*", banned_words_always=True)
    rejected = items_of(run_job(start(store, owner_a, [make_product(store)])))[0]
    stricter = items_of(run_job(start(store, owner_a, [make_product(store)],
                                      compliance=True)))[0]
    assert rejected.error_code == stricter.error_code == "ERR_CONTENT_REJECTED"
    assert (rejected.model_attempts, stricter.model_attempts) == (1, 2)
    for item in (failed, rejected, stricter):
        assert item.model_attempts == ModelRequestLog.unscoped.filter(item=item).count()


def test_a_worker_runs_its_tenants_next_items_itself(settings, store, owner_a, products,
                                                     nodes):
    settings.GENERATION_TENANT_WINDOW = 1
    job = start(store, owner_a, products)
    (first,) = dispatch.refill(store.tenant_id)
    ending = pipeline.run_item(first, then_more_for=60)
    assert ending.status == Status.READY
    # Each ending dispatched the next item to this worker, not to the queue.
    assert {item.status for item in items_of(job)} == {Status.READY}
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.COMPLETED


def test_without_time_to_go_on_the_next_item_goes_to_the_queue(settings, store, owner_a,
                                                               products, nodes):
    settings.GENERATION_TENANT_WINDOW = 1
    job = start(store, owner_a, products)
    (first,) = dispatch.refill(store.tenant_id)
    pipeline.run_item(first)
    assert [item.status for item in items_of(job)] == [Status.READY, Status.DISPATCHED,
                                                       Status.QUEUED]


def test_reviewers_hear_of_a_job_whose_last_item_failed(store, owner_a, products, nodes,
                                                        model_sandbox, mailoutbox,
                                                        django_capture_on_commit_callbacks):
    job = start(store, owner_a, products[:2])
    first, last = items_of(job)
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.run_item(first.pk)
    assert not mailoutbox  # an item is still to come
    model_sandbox.state.set_behaviour(status=500)  # every node fails the last item
    with django_capture_on_commit_callbacks(execute=True):
        assert pipeline.run_item(last.pk).status == Status.FAILED
    assert len(mailoutbox) == 1
    assert owner_a.email in mailoutbox[0].to
    assert f"#{job.pk}" in mailoutbox[0].subject


def test_a_caller_waiting_for_a_full_node_gets_the_slot_given_back(nodes):
    import threading

    from portal.shared_redis import shared_redis

    node = nodes["primary"]
    node.max_concurrency = 1
    taken = threading.Event()
    release = threading.Event()
    waited = {}

    def holder():
        with node_module.slot(node, wait_seconds=1):
            taken.set()
            release.wait(10)

    def waiter():
        taken.wait(10)
        with node_module.slot(node, wait_seconds=10):
            waited["in_use"] = node_module.slots_in_use(node)

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for thread in threads:
        thread.start()
    taken.wait(10)
    with pytest.raises(node_module.NoFreeSlot), node_module.slot(node, wait_seconds=0.1):
        pass  # full: a short wait gives up
    release.set()
    for thread in threads:
        thread.join(15)
    assert waited == {"in_use": 1}
    assert node_module.slots_in_use(node) == 0
    # Releases nobody waited for leave at most one wake-up per slot behind.
    for _ in range(5):
        with node_module.slot(node, wait_seconds=1):
            pass
    assert shared_redis().llen(node_module._key(node.pk, "freed")) <= node.max_concurrency
