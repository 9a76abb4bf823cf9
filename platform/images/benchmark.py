"""Measuring image work (the README's "## Measured" figures; `manage.py benchmark_images`).

- inspect_ms: decode, OCR text detection (one thread) and pHash of one sandbox main image, on
  one core, the download excluded; the median over the sample (and the 95th percentile).
- variants_ms: one marketplace size (trim, pad, JPEG within its limit) from the decoded
  source, per size, median over the sample and every size (AliExpress' three, Temu's two).
- skus_per_minute: N SKUs' main images end to end (download from the marketplace sandbox over
  HTTP with the per-host semaphore, inspection, every AliExpress size, written to the images
  storage) in W worker processes, the way the Celery workers do it (one inspection per
  core). The sandbox draws each image on the same machine meanwhile: the figure is the
  platform's throughput with a marketplace that costs CPU here and nothing in production.
  Database writes (one upsert a row) are not included.
- peak_rss_mb: the largest resident set of one worker process (the OCR model included).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass

from django.conf import settings

from images import fetch, inspection, sizes, variants
from sandbox import images as sandbox_images
from sandbox import pool, shops

SHOP = shops.SHOPS[shops.TEMU_SHOP_5000]
INSPECT_TARGET_MS = 400
VARIANT_TARGET_MS = 30


@dataclass(frozen=True)
class Figures:
    inspect_ms: float
    inspect_p95_ms: float
    variants_ms: float
    variants_p95_ms: float
    skus: int
    workers: int
    seconds: float
    skus_per_minute: float
    peak_rss_mb: float
    failures: int


def _one_core() -> None:
    with contextlib.suppress(AttributeError, OSError):  # not Linux: leave it
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def measure_per_image(sample: int) -> tuple[list[float], list[float]]:
    _one_core()
    inspection.detect_text(inspection.decode(sandbox_images.render(
        pool.product(SHOP.shop_id, SHOP.seed, 0), 1)))  # load the model first
    inspect_times, variant_times = [], []
    for index in range(sample):
        data = sandbox_images.render(pool.product(SHOP.shop_id, SHOP.seed, index), 1)
        started = time.perf_counter()
        inspection.inspect(data)
        inspect_times.append((time.perf_counter() - started) * 1000)
        picture = inspection.decode(data)
        for size in sizes.ALIEXPRESS + sizes.TEMU_APPAREL:
            started = time.perf_counter()
            variants.make(picture, size)
            variant_times.append((time.perf_counter() - started) * 1000)
    return inspect_times, variant_times


def _work(job: tuple[str, str]) -> tuple[bool, int]:
    url, folder = job
    try:
        got = fetch.download(url)
        data = got.data or b""
        inspection.inspect(data)
        picture = inspection.decode(data)
        for size in sizes.ALIEXPRESS:
            made = variants.make(picture, size)
            with open(os.path.join(folder, f"{abs(hash(url))}-{size.name}.jpg"), "wb") as out:
                out.write(made.data)
        ok = True
    except (fetch.DownloadError, inspection.InspectionError, variants.VariantError):
        ok = False
    return ok, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure_throughput(skus: int, workers: int) -> tuple[float, int, float]:
    from sandbox.marketplace import start_sandbox

    running = start_sandbox()
    overrides = settings.MARKETPLACE_GATEWAY_OVERRIDES
    settings.MARKETPLACE_GATEWAY_OVERRIDES = {"temu": running.url + "/openapi/router"}
    urls = [running.url + pool.product(SHOP.shop_id, SHOP.seed, index).images[0].path
            for index in range(skus)]
    try:
        with tempfile.TemporaryDirectory() as folder, \
                multiprocessing.get_context("fork").Pool(workers) as workers_pool:
            workers_pool.map(_warm, range(workers))
            started = time.perf_counter()
            results = workers_pool.map(_work, [(url, folder) for url in urls], chunksize=4)
            seconds = time.perf_counter() - started
    finally:
        settings.MARKETPLACE_GATEWAY_OVERRIDES = overrides
        running.stop()
    failures = sum(1 for ok, _rss in results if not ok)
    peak_kb = max(rss for _ok, rss in results)
    return seconds, failures, peak_kb / 1024


def _warm(_: int) -> None:
    inspection.detect_text(inspection.decode(sandbox_images.render(
        pool.product(SHOP.shop_id, SHOP.seed, 0), 1)))
    time.sleep(0.2)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def run(*, sample: int, skus: int, workers: int) -> Figures:
    inspect_times, variant_times = measure_per_image(sample)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    seconds, failures, peak_rss_mb = measure_throughput(skus, workers)
    return Figures(
        inspect_ms=round(statistics.median(inspect_times), 1),
        inspect_p95_ms=round(_p95(inspect_times), 1),
        variants_ms=round(statistics.median(variant_times), 1),
        variants_p95_ms=round(_p95(variant_times), 1),
        skus=skus, workers=workers, seconds=round(seconds, 1),
        skus_per_minute=round(skus * 60 / seconds, 1), peak_rss_mb=round(peak_rss_mb, 1),
        failures=failures)


