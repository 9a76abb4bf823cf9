"""`manage.py benchmark_images` measures for real and ends with one JSON line of its figures."""

from __future__ import annotations

import io
import json

from django.core.management import call_command


def test_the_benchmark_prints_its_figures_and_one_json_line(settings):
    out = io.StringIO()
    call_command("benchmark_images", skus=6, workers=1, sample=2, stdout=out)
    lines = out.getvalue().strip().splitlines()
    figures = json.loads(lines[-1])
    assert {"inspect_ms", "variants_ms", "skus_per_minute", "peak_rss_mb"} <= set(figures)
    assert figures["skus"] == 6 and figures["failures"] == 0
    assert figures["inspect_ms"] > 0 and figures["variants_ms"] > 0
    assert figures["skus_per_minute"] > 0 and figures["peak_rss_mb"] > 50  # the OCR model
    assert lines[0].startswith("inspect_ms")
