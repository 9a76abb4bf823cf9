"""Benchmark the generation pipeline through real Celery workers. See generation.benchmark.

    DJANGO_SETTINGS_MODULE=config.test_settings \\
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/listing_ai_bench2 \\
    REDIS_URL=redis://127.0.0.1:6379/6 CACHE_URL=redis://127.0.0.1:6379/6 \\
        python manage.py benchmark_generation [--skus 5000] [--concurrency 16] [--latency-ms 200]
"""

from __future__ import annotations

import json
import signal
import statistics

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from generation.benchmark import OVERHEAD_TARGET_MS, THROUGHPUT_TARGET, Options, benchmark
from kernel.processes import stop_on_signals


class Command(BaseCommand):
    help = ("Run one generation job (N SKUs x languages, title) through real Celery worker "
            "processes against the model sandbox answering in a fixed latency; print the "
            "throughput against the ideal C / latency, the platform overhead per item, the "
            "cache-hit share and the exactly-once check. Removes what it created.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--skus", type=int, default=5000)
        parser.add_argument("--languages", default="en",
                            help="comma-separated, e.g. en or en,fr (Temu US takes en, es)")
        parser.add_argument("--concurrency", type=int, default=16,
                            help="the node's concurrency limit C")
        parser.add_argument("--latency-ms", type=int, default=200,
                            help="the sandbox model's answer time")
        parser.add_argument("--workers", type=int, default=1, help="worker processes")
        parser.add_argument("--pool", choices=["threads", "prefork"], default="threads")
        parser.add_argument("--threads-per-worker", type=int, default=None,
                            help="each worker's pool size (default: window / workers)")
        parser.add_argument("--window", type=int, default=None,
                            help="items in flight per tenant (default: C plus one per 16 slots)")
        parser.add_argument("--database-pool", type=int, default=8,
                            help="database connections per worker process, whatever its "
                                 "thread count (DATABASE_POOL_MAX_SIZE)")
        parser.add_argument("--worker-log", default=None,
                            help="append the workers' output to this file")

    def handle(self, *args, skus, languages, concurrency, latency_ms, workers, pool,
               threads_per_worker, window, database_pool, worker_log, **options) -> None:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError("CELERY_TASK_ALWAYS_EAGER is on: the benchmark needs the broker.")
        if skus < 1 or concurrency < 1 or latency_ms < 1 or workers < 1:
            raise CommandError("--skus, --concurrency, --latency-ms and --workers must be >= 1.")
        option = Options(skus=skus, languages=tuple(code.strip() for code in languages.split(",")
                                                   if code.strip()),
                         concurrency=concurrency, latency_ms=latency_ms, workers=workers,
                         pool=pool, threads_per_worker=threads_per_worker, window=window,
                         database_pool=database_pool, worker_log=worker_log)
        self.stdout.write(f"Database: {settings.DATABASES['default']['NAME']}, broker "
                          f"{settings.CELERY_BROKER_URL}")
        # A process manager's SIGTERM or a closed terminal ends the run like Ctrl-C: its
        # clean-up stops the workers (they also die with this process: kernel.processes).
        previous = stop_on_signals()
        try:
            report = benchmark(option, progress=self.stdout.write)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        target = THROUGHPUT_TARGET * report.ideal
        self.stdout.write(f"items: {report.items} ({report.statuses}), job {report.job_status}")
        self.stdout.write(f"wall time (first claim to last ending): {report.wall_seconds:.1f} s")
        self.stdout.write(
            f"throughput: {report.throughput:.1f} items/s; ideal C/latency = {concurrency}/"
            f"{latency_ms / 1000:g} s = {report.ideal:.1f} items/s; ratio {report.ratio:.1%} "
            f"(target >= {THROUGHPUT_TARGET:.0%}, {target:.1f} items/s)")
        self.stdout.write(
            f"platform overhead per item (run time minus the model's time): median "
            f"{report.overhead_median:.1f} ms, p95 {report.overhead(0.95):.1f} ms "
            f"(target median < {OVERHEAD_TARGET_MS:g} ms)")
        if report.model_ms:
            self.stdout.write(
                f"model time per item (as the client timed it): median "
                f"{statistics.median(report.model_ms):.1f} ms; per slot and item "
                f"C/throughput = {report.cycle_ms:.1f} ms, so "
                f"{report.cycle_ms - latency_ms:.1f} ms beyond the model's {latency_ms} ms "
                f"(the platform's time, including the ending after the item's finish time)")
        if report.items:
            self.stdout.write(f"worker CPU: {report.worker_cpu_seconds:.1f} s, "
                              f"{report.worker_cpu_seconds / report.items * 1000:.1f} ms per item")
        self.stdout.write(f"cache-hit share: {report.cache_hit_share:.1%} of "
                          f"{report.prompt_tokens:,} prompt tokens")
        self.stdout.write(f"model requests: {report.requests}, failed: "
                          f"{report.failed_requests}")
        self.stdout.write(f"usage events: {report.usage_events} for {report.ready} READY items; "
                          f"double charges: {report.double_charges}; open reservations: "
                          f"{report.open_reservations}")
        if report.problems:
            raise CommandError("EXACTLY-ONCE CHECK FAILED:\n  " + "\n  ".join(report.problems))
        self.stdout.write(self.style.SUCCESS("Exactly once: every item ended once, each READY "
                                             "item charged once."))
        met = report.ratio >= THROUGHPUT_TARGET and report.overhead_median < OVERHEAD_TARGET_MS
        self.stdout.write(self.style.SUCCESS("Targets met.") if met
                          else self.style.WARNING("Targets NOT met."))
        self.stdout.write(json.dumps({
            "skus": skus, "languages": list(option.languages), "concurrency": concurrency,
            "latency_ms": latency_ms, "workers": workers, "database_pool": database_pool,
            "items": report.items, "ready": report.ready,
            "throughput_items_per_s": round(report.throughput, 2),
            "ideal_items_per_s": round(report.ideal, 2), "ratio": round(report.ratio, 4),
            "overhead_median_ms": round(report.overhead_median, 2),
            "overhead_p95_ms": round(report.overhead(0.95), 2),
            "worker_cpu_ms_per_item": round(report.worker_cpu_seconds / report.items * 1000, 2)
            if report.items else None,
            "cache_hit_share": round(report.cache_hit_share, 4),
            "exactly_once": not report.problems, "targets_met": met}))
