"""The generation throughput benchmark: one job of N SKUs x languages through real Celery
workers (subprocesses consuming a queue of their own), one primary node on the model sandbox
(started here, real HTTP) answering in a fixed latency, and a node concurrency limit C. The
ideal is C / latency items per second; the platform's own time per item is what remains of an
item's run once the model's time is taken away. Used by `manage.py benchmark_generation`;
everything it creates is removed again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from dataclasses import replace as replace_terms
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from billing import services as billing
from billing.models import (
    DailyUsage,
    QuotaPack,
    QuotaPackVersion,
    Reservation,
    StoreSubscription,
    UsageEvent,
)
from catalog.models import Product
from generation import nodes
from generation.dispatch import window_for
from generation.models import GenerationItem, GenerationJob, ModelNode, ModelRequestLog
from generation.services import Selection, start_job
from kernel.processes import die_with_parent
from portal.shared_redis import shared_redis
from stores.models import Store
from tenants.models import Tenant, User
from tenants.scope import tenant_scope

SLUG_PREFIX = "genbench-"
SITE_CODE = "temu-us"
THROUGHPUT_TARGET = 0.90  # share of the ideal C / latency
OVERHEAD_TARGET_MS = 15.0  # median platform time per item
PLATFORM_DIR = Path(__file__).resolve().parent.parent
FINAL = {GenerationJob.Status.COMPLETED, GenerationJob.Status.COMPLETED_WITH_ERRORS,
         GenerationJob.Status.FAILED, GenerationJob.Status.CANCELLED}


@dataclass
class Options:
    skus: int = 5000
    languages: tuple[str, ...] = ("en",)
    concurrency: int = 16
    latency_ms: int = 200
    workers: int = 1  # worker processes
    pool: str = "threads"  # each worker's pool: threads (concurrency C / workers) or prefork
    database_pool: int = 8  # database connections per worker process (DATABASE_POOL_MAX_SIZE)
    threads_per_worker: int | None = None  # None: enough for the window
    window: int | None = None  # GENERATION_TENANT_WINDOW for the run; None: the default for C
    timeout_seconds: float = 1800.0
    worker_log: str | None = None  # the workers' output (default: discarded)


@dataclass
class Report:
    options: Options
    items: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    job_status: str = ""
    wall_seconds: float = 0.0  # first claim to last ending
    overheads_ms: list[float] = field(default_factory=list)
    model_ms: list[float] = field(default_factory=list)  # per READY item, as the client timed it
    requests: int = 0
    failed_requests: int = 0
    prompt_tokens: int = 0
    cache_hit_tokens: int = 0
    usage_events: int = 0
    double_charges: int = 0
    open_reservations: int = 0
    problems: list[str] = field(default_factory=list)
    worker_cpu_seconds: float = 0.0

    @property
    def ready(self) -> int:
        return self.statuses.get(GenerationItem.Status.READY, 0)

    @property
    def throughput(self) -> float:
        return self.items / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def ideal(self) -> float:
        return self.options.concurrency / (self.options.latency_ms / 1000)

    @property
    def ratio(self) -> float:
        return self.throughput / self.ideal if self.ideal else 0.0

    @property
    def cache_hit_share(self) -> float:
        return self.cache_hit_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    def overhead(self, quantile: float) -> float:
        if not self.overheads_ms:
            return 0.0
        ordered = sorted(self.overheads_ms)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]

    @property
    def overhead_median(self) -> float:
        return statistics.median(self.overheads_ms) if self.overheads_ms else 0.0

    @property
    def cycle_ms(self) -> float:
        """How long each of the C slots took per item: model time, everything the platform
        does, and any time a slot stood idle (between one item's ending and the next)."""
        return self.options.concurrency / self.throughput * 1000 if self.throughput else 0.0


@dataclass
class Fixture:
    run: str
    tenant: Tenant
    user: User
    store: Store
    node: ModelNode


# Set-up and tear-down ----------------------------------------------------------------------

def set_up(run: str, options: Options, base_url: str) -> Fixture:
    """A tenant with one subscribed store (a pack including every call of the run), the SKUs,
    and one primary node on the sandbox with concurrency limit C."""
    calls = options.skus * len(options.languages)
    user = User.objects.create_user(email=f"genbench-{run}@benchmark.invalid")
    tenant = Tenant.objects.create(name=f"Generation benchmark {run}", slug=SLUG_PREFIX + run,
                                   status=Tenant.Status.ACTIVE)
    store = Store.unscoped.create(tenant=tenant, site_code=SITE_CODE, created_by=user,
                                  display_name="Generation benchmark", shop_id=f"genbench-{run}",
                                  status=Store.Status.HEALTHY)
    terms = replace_terms(billing.STANDARD_TERMS, included_calls_per_day=calls + 100,
                          sku_limit=max(options.skus, billing.STANDARD_TERMS.sku_limit))
    pack = billing.create_pack(code=SLUG_PREFIX + run, name=f"Generation benchmark {run}",
                               terms=terms, by=None)
    billing.subscribe_store(store, pack, by=None)
    now = timezone.now()
    Product.unscoped.bulk_create([
        Product(tenant=tenant, store=store, marketplace_id=f"{index:08d}", sku=f"GB-{index}",
                title=f"Stainless Steel Insulated Water Bottle 750 ml Leak-Proof Lid Model {index}",
                category="Kitchen > Drinkware",
                description="Double-wall vacuum insulation keeps drinks cold for 24 hours.",
                attributes={"material": "stainless steel", "colour": "matte black",
                            "capacity": "750 ml"},
                parameters={"material": "18/8 stainless steel", "capacity": "750 ml",
                            "weight": "380 g", "lid": "leak-proof screw lid"},
                images=[{"url": f"http://127.0.0.1:1/img/{index}.jpg", "width": 1600,
                         "height": 1600}],
                content_hash=f"genbench-{index}", attribute_word_count=4,
                parameter_completeness=100, main_image_width=1600, quality_flags=[],
                last_synced_at=now)
        for index in range(options.skus)], batch_size=2000)
    node = ModelNode.objects.create(
        name=f"Benchmark primary {run}", base_url=base_url, model_name=f"genbench-{run}",
        api_key="sk-benchmark", supports_text=True, role=ModelNode.Role.PRIMARY, priority=0,
        max_concurrency=options.concurrency, request_deadline_seconds=Decimal("30"),
        price_cache_hit=Decimal("0.5"), price_cache_miss=Decimal("2"),
        price_output=Decimal("8"))
    return Fixture(run, tenant, user, store, node)


def tear_down(run: str) -> None:
    """Remove what run `run` created, the append-only ledger and audit rows included (raw SQL
    on purpose: the models refuse to delete them)."""
    tenant_ids = list(Tenant.objects.filter(slug=SLUG_PREFIX + run).values_list("pk", flat=True))
    with transaction.atomic(), connection.cursor() as cursor:
        for tenant_id in tenant_ids:
            for table in (UsageEvent._meta.db_table, Reservation._meta.db_table,
                          DailyUsage._meta.db_table, "audit_auditevent"):
                cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s",  # noqa: S608
                               [tenant_id])
            ModelRequestLog.unscoped.filter(tenant_id=tenant_id).delete()
            GenerationItem.unscoped.filter(tenant_id=tenant_id).delete()
            GenerationJob.unscoped.filter(tenant_id=tenant_id).delete()
            Product.unscoped.filter(tenant_id=tenant_id).delete()
            StoreSubscription.unscoped.filter(tenant_id=tenant_id).update(renewed_from=None)
            StoreSubscription.unscoped.filter(tenant_id=tenant_id).delete()
            Store.unscoped.filter(tenant_id=tenant_id).delete()
            Tenant.objects.filter(pk=tenant_id).delete()
        ModelNode.objects.filter(name=f"Benchmark primary {run}").delete()
        QuotaPackVersion.objects.filter(pack__code=SLUG_PREFIX + run).delete()
        QuotaPack.objects.filter(code=SLUG_PREFIX + run).delete()
        cursor.execute(f"DELETE FROM {User._meta.db_table} WHERE email = %s",  # noqa: S608
                       [f"genbench-{run}@benchmark.invalid"])


def tear_down_leftovers() -> int:
    """Runs interrupted before their clean-up (Ctrl-C, a crash) are removed next time."""
    runs = [slug.removeprefix(SLUG_PREFIX) for slug in
            Tenant.objects.filter(slug__startswith=SLUG_PREFIX).values_list("slug", flat=True)]
    for run in runs:
        tear_down(run)
    return len(runs)


# Workers -----------------------------------------------------------------------------------

def worker_environment(queue: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a worker subprocess: same settings module and database,
    the platform packages importable, and the queue its own dispatches go to."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = settings.SETTINGS_MODULE
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLATFORM_DIR),
                                                      env.get("PYTHONPATH", "")]))
    env["GENERATION_WORKER_QUEUE"] = queue
    env.update(extra or {})
    return env


def start_worker(queue: str, name: str, *, pool: str, concurrency: int,
                 env: dict[str, str], log_path: str | None = None) -> subprocess.Popen:
    """`celery -A generation.worker_app worker` consuming only `queue`, in its own process
    group (so that it and its pool children can be stopped or killed together), ended by
    SIGTERM if this process dies without stopping it."""
    command = [sys.executable, "-m", "celery", "-A", "generation.worker_app", "worker",
               "--pool", pool, "--concurrency", str(concurrency), "-Q", queue,
               "-n", f"{name}@%h", "--loglevel", "WARNING", "--without-gossip",
               "--without-mingle", "--without-heartbeat"]
    output = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            command, cwd=str(PLATFORM_DIR.parent), env=env, stdout=output,
            stderr=subprocess.STDOUT, preexec_fn=die_with_parent)  # noqa: PLW1509
    finally:
        if log_path:
            output.close()  # the worker has its own copy


def wait_for_workers(names: list[str], processes: list[subprocess.Popen],
                     timeout: float = 120.0) -> None:
    """Until every worker answers a ping (it consumes its queue from then on)."""
    from config.celery import app

    wanted = {name for name in names}
    give_up_at = time.monotonic() + timeout
    while True:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"a worker exited at start-up (code {process.returncode})")
        replies = app.control.ping(timeout=1.0) or []
        answered = {name.split("@", 1)[0] for reply in replies for name in reply}
        if wanted <= answered:
            return
        if time.monotonic() > give_up_at:
            raise RuntimeError(f"workers did not start within {timeout:.0f} s: "
                               f"{sorted(wanted - answered)} missing")


def stop_workers(processes: list[subprocess.Popen], *, kill: bool = False) -> None:
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def cpu_seconds(processes: list[subprocess.Popen]) -> float:
    """User + system CPU time so far of the workers and their pool children (Linux /proc)."""
    groups = {process.pid for process in processes}
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in groups:  # the process group: fields[2] is pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def delete_queue(queue: str) -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


# The run -----------------------------------------------------------------------------------

def _wait_for_job(job: GenerationJob, timeout: float, progress) -> GenerationJob:
    give_up_at = time.monotonic() + timeout
    last_note = 0.0
    while True:
        job.refresh_from_db()
        if job.status in FINAL:
            return job
        if time.monotonic() > give_up_at:
            raise RuntimeError(f"the job did not finish within {timeout:.0f} s "
                               f"({job.items_succeeded + job.items_failed} of "
                               f"{job.items_total} items ended)")
        if progress and time.monotonic() - last_note > 10:
            last_note = time.monotonic()
            progress(f"  ... {job.items_succeeded + job.items_failed} of {job.items_total} "
                     f"items ended")
        time.sleep(0.5)


def measure(report: Report, job: GenerationJob, fixture: Fixture) -> None:
    items = GenerationItem.unscoped.filter(job=job)
    report.items = items.count()
    report.statuses = dict(items.values_list("status").annotate(n=Count("id")))
    report.job_status = job.status
    span = items.aggregate(first=Min("started_at"), last=Max("finished_at"))
    if span["first"] and span["last"]:
        report.wall_seconds = (span["last"] - span["first"]).total_seconds()
    model_ms = dict(ModelRequestLog.unscoped.filter(job=job).values_list("item_id")
                    .annotate(total=Sum("latency_ms")))
    for item_id, started, finished in items.filter(
            status=GenerationItem.Status.READY).values_list("id", "started_at", "finished_at"):
        elapsed = (finished - started).total_seconds() * 1000
        report.overheads_ms.append(elapsed - model_ms.get(item_id, 0))
        report.model_ms.append(model_ms.get(item_id, 0))
    logs = ModelRequestLog.unscoped.filter(job=job).aggregate(
        requests=Count("id"), failed=Count("id", filter=~Q(error_code="")),
        prompt=Sum("prompt_tokens"), hit=Sum("cache_hit_tokens"))
    report.requests = logs["requests"]
    report.failed_requests = logs["failed"]
    report.prompt_tokens = logs["prompt"] or 0
    report.cache_hit_tokens = logs["hit"] or 0
    tenant_id = fixture.tenant.pk
    report.usage_events = UsageEvent.unscoped.filter(tenant_id=tenant_id).count()
    keys = {item.quota_key for item in items.only("id", "generation").iterator(2000)}
    report.double_charges = (UsageEvent.unscoped.filter(tenant_id=tenant_id)
                             .values("item_key").annotate(n=Count("id")).filter(n__gt=1).count())
    report.open_reservations = Reservation.unscoped.filter(
        tenant_id=tenant_id, item_key__in=keys, state=Reservation.State.RESERVED).count()
    if report.usage_events != report.ready:
        report.problems.append(f"{report.usage_events} usage events != {report.ready} "
                               f"READY items")
    if report.double_charges:
        report.problems.append(f"{report.double_charges} items charged twice")
    if report.open_reservations:
        report.problems.append(f"{report.open_reservations} reservations still RESERVED")
    unfinished = report.items - report.ready - report.statuses.get(
        GenerationItem.Status.FAILED, 0)
    if unfinished:
        report.problems.append(f"{unfinished} items neither READY nor FAILED")


def benchmark(options: Options, progress=None) -> Report:
    from sandbox.model_api import start_sandbox

    run = uuid.uuid4().hex[:10]
    queue = f"genbench-{run}"
    report = Report(options)
    close_old_connections()
    tear_down_leftovers()
    sandbox = start_sandbox()
    processes: list[subprocess.Popen] = []
    try:
        fixture = set_up(run, options, sandbox.base_url)
        sandbox.state.set_behaviour(fixture.node.model_name, latency_ms=options.latency_ms)
        window = options.window or window_for(options.concurrency)
        per_worker = options.threads_per_worker or max(1, -(-window // options.workers))
        env = worker_environment(queue, {
            "GENERATION_TENANT_WINDOW": str(window),
            # As in production: no query log and a pool of connections per process
            # (config.test_settings turns DEBUG on and the pool off).
            "DEBUG": "0", "DATABASE_POOL_MAX_SIZE": str(options.database_pool),
            "SECRET_KEY": settings.SECRET_KEY,
            "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS)})
        names = [f"genbench-{run}-{index}" for index in range(options.workers)]
        processes = [start_worker(queue, name, pool=options.pool, concurrency=per_worker,
                                  env=env, log_path=options.worker_log) for name in names]
        if progress:
            progress(f"{options.workers} worker process(es), pool {options.pool} x "
                     f"{per_worker}, window {window}; waiting for them ...")
        wait_for_workers(names, processes)
        with tenant_scope(fixture.tenant):
            from config.celery import app

            previous_queue = app.conf.task_default_queue
            app.conf.task_default_queue = queue  # the job's first window goes there too
            settings_window = settings.GENERATION_TENANT_WINDOW
            settings.GENERATION_TENANT_WINDOW = window
            try:
                if progress:
                    progress(f"starting the job: {options.skus} SKUs x "
                             f"{len(options.languages)} language(s) ...")
                job = start_job(store=fixture.store, selection=Selection(whole_store=True),
                                kinds=["title"], languages=list(options.languages),
                                compliance_mode=False, by=fixture.user)
            finally:
                app.conf.task_default_queue = previous_queue
                settings.GENERATION_TENANT_WINDOW = settings_window
        job = _wait_for_job(job, options.timeout_seconds, progress)
        report.worker_cpu_seconds = cpu_seconds(processes)
        stop_workers(processes)
        measure(report, job, fixture)
    finally:
        stop_workers(processes, kill=True)
        sandbox.stop()
        with contextlib.suppress(Exception):  # best effort: an empty queue left on the broker
            delete_queue(queue)
        close_old_connections()
        node = ModelNode.objects.filter(name=f"Benchmark primary {run}").first()
        if node is not None:  # its slots and breaker in Redis
            client = shared_redis()
            for key in client.scan_iter(f"{nodes.KEY_PREFIX}{node.pk}:*"):
                client.delete(key)
        tear_down(run)
    return report

