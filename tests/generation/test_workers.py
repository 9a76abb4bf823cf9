"""The generation pipeline through real Celery workers on the real Redis broker, each test on
a queue of its own: a job runs to the end; the primary node down, the job completes on the
backup; a worker killed in the middle of a job, every item still ends exactly once and none
is charged twice.

Robust on a busy machine: generous deadlines, poll loops, no timing assertions."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.models import Count

from billing.models import Reservation, UsageEvent
from config.celery import app as celery_app
from generation import benchmark, dispatch
from generation.models import GenerationItem, GenerationJob, ModelRequestLog
from generation.services import Selection, start_job
from tenants.scope import tenant_scope
from tests import celery_worker
from tests.generation.conftest import make_product

Status = GenerationItem.Status
pytestmark = pytest.mark.django_db(transaction=True)

EMBEDDED_DEADLINE_SECONDS = 180
KILL_TEST_DEADLINE_SECONDS = 420
FINAL = {GenerationJob.Status.COMPLETED, GenerationJob.Status.COMPLETED_WITH_ERRORS,
         GenerationJob.Status.FAILED, GenerationJob.Status.CANCELLED}


@pytest.fixture
def embedded_worker(monkeypatch) -> Iterator[object]:
    with celery_worker.embedded_worker(monkeypatch, name="generation",
                                       deadline_seconds=EMBEDDED_DEADLINE_SECONDS) as worker:
        yield worker


def start(store, owner, count: int) -> GenerationJob:
    products = [make_product(store) for _ in range(count)]
    with tenant_scope(store.tenant):
        return start_job(store=store, selection=Selection(product_ids=tuple(p.pk for p in
                                                                             products)),
                         kinds=["title"], languages=["en"], compliance_mode=False, by=owner)


def wait_until_final(job: GenerationJob, timeout: float, *, each_round=None) -> GenerationJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if each_round is not None:
            each_round()
        job.refresh_from_db()
        if job.status in FINAL:
            return job
        time.sleep(0.5)
    raise AssertionError(f"the job did not end within {timeout}s: {statuses(job)}")


def statuses(job: GenerationJob) -> Counter:
    return Counter(GenerationItem.unscoped.filter(job=job).values_list("status", flat=True))


def assert_charged_once(job: GenerationJob) -> None:
    """One ledger row per READY item, none for anything else, and no call left reserved."""
    items = list(GenerationItem.unscoped.filter(job=job))
    ready_keys = {item.quota_key for item in items if item.status == Status.READY}
    events = list(UsageEvent.unscoped.filter(store_id=job.store_id)
                  .values_list("item_key", flat=True))
    assert Counter(events) == Counter(ready_keys)
    assert not (UsageEvent.unscoped.filter(store_id=job.store_id).values("item_key")
                .annotate(n=Count("id")).filter(n__gt=1).exists())
    assert not Reservation.unscoped.filter(item_key__in={item.quota_key for item in items},
                                           state=Reservation.State.RESERVED).exists()


def test_a_job_runs_to_completion_in_a_worker(embedded_worker, store, owner_a, nodes,
                                              model_sandbox):
    model_sandbox.state.set_behaviour("deepseek-chat", latency_ms=20)

    job = start(store, owner_a, 30)
    assert job.items_total == 30

    job = wait_until_final(job, 150)
    assert job.status == GenerationJob.Status.COMPLETED
    assert (job.items_succeeded, job.items_failed) == (30, 0)
    assert statuses(job) == Counter({Status.READY: 30})
    assert set(GenerationItem.unscoped.filter(job=job).values_list("node", flat=True)) == {
        nodes["primary"].pk}
    assert UsageEvent.unscoped.filter(store=store).count() == 30
    assert_charged_once(job)


def test_the_primary_node_down_the_job_completes_on_the_backup(embedded_worker, store, owner_a,
                                                               nodes, model_sandbox,
                                                               fast_breaker):
    model_sandbox.state.set_behaviour("deepseek-chat", status=503)

    job = start(store, owner_a, 10)
    job = wait_until_final(job, 150)

    assert job.status == GenerationJob.Status.COMPLETED
    assert statuses(job) == Counter({Status.READY: 10})
    assert set(GenerationItem.unscoped.filter(job=job).values_list("node", flat=True)) == {
        nodes["backup"].pk}
    assert_charged_once(job)
    logs = list(ModelRequestLog.unscoped.filter(job=job).order_by("started_at", "id"))
    primary = [log for log in logs if log.node_id == nodes["primary"].pk]
    backup = [log for log in logs if log.node_id == nodes["backup"].pk]
    # The primary's failures until the breaker opened (2 with fast_breaker), then the breaker
    # skipped it: every later item went straight to the backup.
    assert [(log.error_code, log.http_status) for log in primary] == [
        ("ERR_MODEL_UNAVAILABLE", 503)] * fast_breaker.GENERATION_BREAKER_FAILURES
    assert len(backup) == 10 and all(log.error_code == "" for log in backup)
    skipped = [log for log in backup if log.started_at > primary[-1].started_at]
    assert len(skipped) >= 10 - fast_breaker.GENERATION_BREAKER_FAILURES
    served = [call["model"] for call in model_sandbox.state.requests_for()]
    assert served.count("deepseek-chat") == fast_breaker.GENERATION_BREAKER_FAILURES


# A worker killed in the middle of a job ----------------------------------------------------

LEASE_SECONDS = 3


def worker_database_url(user: str | None = None) -> str:
    """This test database's URL, for worker processes started by the test (the embedded
    server of `make test` is a Unix socket directory)."""
    params = connection.settings_dict
    credentials = user or (params["USER"] + (f":{params['PASSWORD']}" if params["PASSWORD"]
                                            else ""))
    host = params["HOST"] or "127.0.0.1"
    if host.startswith("/"):
        return f"postgres://{credentials}@/{params['NAME']}?host={host}"
    return f"postgres://{credentials}@{host}:{params['PORT'] or 5432}/{params['NAME']}"


@pytest.fixture
def worker_queue(monkeypatch) -> Iterator[str]:
    """A queue of this test's own: the job's first window (sent from this process) and every
    later dispatch (sent from the workers) go there, and only the test's workers consume it."""
    queue = f"tests-generation-kill-{uuid.uuid4().hex[:12]}"
    monkeypatch.setitem(celery_app.conf, "task_default_queue", queue)
    yield queue
    benchmark.delete_queue(queue)


def test_a_worker_killed_mid_job_every_item_ends_exactly_once(store, owner_a, nodes,
                                                               model_sandbox, worker_queue,
                                                               settings, tmp_path):
    settings.GENERATION_ITEM_LEASE_SECONDS = LEASE_SECONDS
    settings.GENERATION_DISPATCH_LEASE_SECONDS = LEASE_SECONDS
    model_sandbox.state.set_behaviour("deepseek-chat", latency_ms=300)
    env = benchmark.worker_environment(worker_queue, {
        "DATABASE_URL": worker_database_url(),
        "GENERATION_ITEM_LEASE_SECONDS": str(LEASE_SECONDS),
        "GENERATION_DISPATCH_LEASE_SECONDS": str(LEASE_SECONDS),
    })
    env["DJANGO_SETTINGS_MODULE"] = "config.test_settings"
    log = str(tmp_path / "workers.log")
    workers = []

    def start_worker(name: str):
        process = benchmark.start_worker(worker_queue, f"{name}-{uuid.uuid4().hex[:8]}",
                                         pool="threads", concurrency=4, env=env, log_path=log)
        workers.append(process)
        return process

    try:
        with celery_worker.hard_deadline(KILL_TEST_DEADLINE_SECONDS):
            first = start_worker("first")
            job = start(store, owner_a, 40)
            deadline = time.monotonic() + 240
            while True:  # until some items are READY and some RUNNING
                counts = statuses(job)
                if counts[Status.READY] >= 3 and counts[Status.RUNNING] >= 1:
                    break
                assert first.poll() is None, f"the worker died by itself: {read(log)}"
                assert time.monotonic() < deadline, f"no progress: {counts}\n{read(log)}"
                time.sleep(0.05)

            os.killpg(first.pid, signal.SIGKILL)  # the worker and its children, mid-job
            first.wait(timeout=30)
            killed_with = statuses(job)
            assert killed_with[Status.READY] < 40

            start_worker("second")
            job = wait_until_final(job, 300, each_round=dispatch.recover_stalled_items)
    finally:
        benchmark.stop_workers(workers)

    counts = statuses(job)
    assert job.status in FINAL
    assert counts[Status.READY] + counts[Status.FAILED] == 40, counts
    assert counts[Status.READY] > killed_with[Status.READY]
    assert job.items_succeeded == counts[Status.READY]
    assert job.items_failed == counts[Status.FAILED]
    assert_charged_once(job)
    assert UsageEvent.unscoped.filter(store=store).count() == counts[Status.READY]


def read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()[-3000:]
    except OSError:
        return ""


@pytest.fixture
def limited_role() -> Iterator[str]:
    """A database role that PostgreSQL allows 4 connections, with the test user's rights on
    the test database's tables."""
    role = f"limited_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT {ROLE_CONNECTION_LIMIT}")
        cursor.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        cursor.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
    yield role
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE usename = %s", [role])
        cursor.execute(f"DROP OWNED BY {role}")
        cursor.execute(f"DROP ROLE {role}")


ROLE_CONNECTION_LIMIT = 4
WORKER_THREADS = 24


def test_more_worker_threads_than_database_connections_still_complete_the_job(
        store, owner_a, nodes, model_sandbox, worker_queue, limited_role, settings, tmp_path):
    """24 threads waiting on a slow model through one database role that may open 4
    connections: the pool (3 per process) holds a connection only while a thread does
    database work, so every item ends, and never more than the pool is open."""
    nodes["primary"].max_concurrency = WORKER_THREADS
    nodes["primary"].save()
    settings.GENERATION_TENANT_WINDOW = WORKER_THREADS
    model_sandbox.state.set_behaviour("deepseek-chat", latency_ms=400)
    env = benchmark.worker_environment(worker_queue, {
        "DATABASE_URL": worker_database_url(limited_role), "DATABASE_POOL_MAX_SIZE": "3",
        "GENERATION_TENANT_WINDOW": str(WORKER_THREADS)})
    env["DJANGO_SETTINGS_MODULE"] = "config.test_settings"
    log = str(tmp_path / "workers.log")
    worker = benchmark.start_worker(worker_queue, f"limited-{uuid.uuid4().hex[:8]}",
                                    pool="threads", concurrency=WORKER_THREADS, env=env,
                                    log_path=log)
    most_connections = 0

    def count_connections():
        nonlocal most_connections
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s",
                           [limited_role])
            most_connections = max(most_connections, cursor.fetchone()[0])
        assert worker.poll() is None, f"the worker died: {read(log)}"

    try:
        with celery_worker.hard_deadline(KILL_TEST_DEADLINE_SECONDS):
            job = start(store, owner_a, 60)
            job = wait_until_final(job, 300, each_round=count_connections)
    finally:
        benchmark.stop_workers([worker])

    counts = statuses(job)
    assert counts == {Status.READY: 60}, f"{counts}\n{read(log)}"
    assert job.status == GenerationJob.Status.COMPLETED
    assert 0 < most_connections <= 3
    assert "too many connections" not in read(log)
    assert_charged_once(job)
