"""Retrying failed items when today's quota is used up (issue 12): the retry says how many would
fail again for quota, runs only what the quota takes, and offers to run the rest after the
reset, in the tenant's time zone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from billing import quota
from billing import services as billing
from billing.models import DailyUsage
from generation import services
from generation.models import GenerationItem, GenerationJob
from tenants.scope import tenant_scope
from tests.conftest import english_client
from tests.generation.conftest import make_product, make_store, run_job
from tests.generation.test_api import api_client, post
from tests.portal.test_api import assert_error_shape

Status = GenerationItem.Status


@pytest.fixture
def capped_store(tenant_a, owner_a, small_pack):
    """Two included calls a day and no overage: the third call of a day fails for quota."""
    type(tenant_a).objects.filter(pk=tenant_a.pk).update(time_zone="America/Toronto")
    tenant_a.refresh_from_db()
    store = make_store(tenant_a, owner_a)
    subscription = billing.subscribe_store(store, small_pack, by=None, daily_overage_cap=0)
    # Begun a day early, so that "tomorrow" below is inside the subscription too.
    type(subscription).unscoped.filter(pk=subscription.pk).update(
        starts_on=F("starts_on") - timedelta(days=1))
    return store


def quota_failed_job(store, owner, skus: int) -> GenerationJob:
    ids = tuple(make_product(store).pk for _ in range(skus))
    with tenant_scope(store.tenant):
        job = services.start_job(store=store, selection=services.Selection(product_ids=ids),
                                 kinds=["title"], languages=["en"], compliance_mode=False,
                                 by=owner)
    return run_job(job)


def a_new_day(store) -> None:
    """What the quota reset looks like to the counters: today's usage belongs to yesterday."""
    DailyUsage.unscoped.filter(store=store).update(day=F("day") - timedelta(days=1))


def test_retry_with_the_quota_used_up_refuses_and_says_when_it_resets(
        capped_store, owner_a, tenant_a, nodes):
    job = quota_failed_job(capped_store, owner_a, skus=5)
    assert (job.items_succeeded, job.items_failed) == (2, 3)
    assert set(GenerationItem.unscoped.filter(job=job, status=Status.FAILED)
               .values_list("error_code", flat=True)) == {"ERR_QUOTA_EXCEEDED"}

    with tenant_scope(tenant_a):
        plan = services.plan_retry(job)
    assert (plan.retryable, plan.fit_today, plan.over_quota) == (3, 0, 3)
    resets_at = quota.quota_resets_at(tenant_a, quota.local_day(tenant_a))
    assert plan.resets_at == resets_at

    api = api_client(tenant_a, owner_a)
    body = assert_error_shape(post(api, f"/api/v1/jobs/{job.pk}/retry-failed/"), 400,
                              "ERR_QUOTA_EXCEEDED")
    assert body["details"]["would_fail_for_quota"] == 3
    local = timezone.localtime(resets_at, tenant_a.zone)
    assert f"{local:%Y-%m-%d} 00:00 (America/Toronto)" in body["message"]
    # Nothing ran again: no item was re-queued to fail at once.
    assert GenerationItem.unscoped.filter(job=job, status=Status.FAILED).count() == 3
    assert GenerationItem.unscoped.filter(job=job, generation=2).count() == 0

    planned = api.get(f"/api/v1/jobs/{job.pk}/retry-plan/").json()
    assert (planned["fit_today"], planned["over_quota"]) == (0, 3)

    scheduled = post(api, f"/api/v1/jobs/{job.pk}/retry-failed/", {"after_reset": True})
    assert scheduled.status_code == 200, scheduled.content
    assert scheduled.json()["retry"] == {
        "started": 0, "over_quota": 3, "scheduled_for": scheduled.json()["retry_scheduled_for"],
        "resets_at": scheduled.json()["retry_scheduled_for"]}
    job.refresh_from_db()
    assert job.retry_scheduled_for == resets_at and job.retry_scheduled_by == owner_a

    # Housekeeping before the reset does nothing; after it, the items run once.
    assert services.run_scheduled_retries(now=resets_at - timedelta(minutes=1)) == 0
    a_new_day(capped_store)
    assert services.run_scheduled_retries(now=resets_at + timedelta(minutes=1)) == 2
    job = run_job(job)
    assert job.retry_scheduled_for is None
    assert (job.items_succeeded, job.items_failed) == (4, 1)  # two calls a day
    assert services.run_scheduled_retries(now=resets_at + timedelta(minutes=2)) == 0


def test_retry_runs_what_todays_quota_takes_and_keeps_the_rest_failed(
        capped_store, owner_a, tenant_a, nodes):
    job = quota_failed_job(capped_store, owner_a, skus=5)
    a_new_day(capped_store)
    with tenant_scope(tenant_a):
        result = services.retry_failed_items(job, by=owner_a)
    assert (result.started, result.over_quota, result.scheduled_for) == (2, 1, None)
    assert GenerationItem.unscoped.filter(job=job, status=Status.QUEUED).count() == 2
    job = run_job(job)
    assert (job.items_succeeded, job.items_failed) == (4, 1)


def test_the_job_page_says_how_many_would_fail_and_offers_the_reset(
        capped_store, owner_a, tenant_a, nodes):
    job = quota_failed_job(capped_store, owner_a, skus=5)
    a_new_day(capped_store)
    client = english_client(owner_a, tenant_a)
    page = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    text = re.sub(r"\s+", " ", page)
    assert ("Of the 3 failed items that can be retried, 1 would fail again: today's quota "
            "takes 2 more.") in text
    assert "(America/Toronto)" in text
    assert "Retry 2 now, the other 1 after the reset" in text

    done = client.post(reverse("job_retry", args=[job.pk]), {"when": "after_reset"},
                       follow=True).content.decode()
    assert "2 failed items are being generated again." in done
    assert "1 failed item will be generated again after the quota resets at" in done
    job.refresh_from_db()
    assert job.retry_scheduled_for is not None and job.items_failed == 1
