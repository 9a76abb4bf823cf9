"""Benchmark image work: inspection and sizes per image on one core, then SKUs per minute end
to end against the marketplace sandbox. See images.benchmark.

    DJANGO_SETTINGS_MODULE=config.test_settings REDIS_URL=redis://127.0.0.1:6379/12 \\
        python manage.py benchmark_images [--skus 5000] [--workers 2] [--sample 20]
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

from django.core.management.base import BaseCommand

from images.benchmark import INSPECT_TARGET_MS, VARIANT_TARGET_MS, run


class Command(BaseCommand):
    help = ("Measure image inspection (OCR detection and hash) and the marketplace sizes per "
            "image on one core, then main images per minute end to end; the last line is "
            "JSON with the same figures.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--skus", type=int, default=5000)
        parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                            help="worker processes (the README recommends one per core)")
        parser.add_argument("--sample", type=int, default=20,
                            help="images measured one by one on one core")

    def handle(self, *args, skus: int, workers: int, sample: int, **options) -> None:
        figures = run(sample=sample, skus=skus, workers=workers)
        write = self.stdout.write
        write(f"inspect_ms      {figures.inspect_ms:8.1f}  (p95 {figures.inspect_p95_ms}; "
              f"aim <= {INSPECT_TARGET_MS}) per main image, one core, download excluded")
        write(f"variants_ms     {figures.variants_ms:8.1f}  (p95 {figures.variants_p95_ms}; "
              f"aim <= {VARIANT_TARGET_MS}) per size")
        write(f"skus_per_minute {figures.skus_per_minute:8.1f}  ({figures.skus} SKUs in "
              f"{figures.seconds} s, {figures.workers} workers, {figures.failures} failed)")
        write(f"peak_rss_mb     {figures.peak_rss_mb:8.1f}  per worker process")
        write(json.dumps(asdict(figures), sort_keys=True))
