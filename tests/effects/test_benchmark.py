"""`manage.py benchmark_attribution`: its figures, its JSON line, and that it cleans up."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from effects.models import DailyPerformance, EffectListing
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_the_benchmark_prints_every_figure_and_ends_with_one_json_line():
    out = StringIO()
    call_command("benchmark_attribution", "--listings", "300", "--speed-listings", "40",
                 stdout=out)
    lines = out.getvalue().strip().splitlines()
    result = json.loads(lines[-1])
    assert set(result["levels"]) == {"500", "2000", "10000", "100000"}
    for row in result["levels"].values():
        for name in ("false_positive_rate", "power_30", "power_50"):
            assert 0 <= row[name] <= 1 and 0 <= row[f"rule_{name}"] <= 1
        assert row["false_positive_rate"] <= 0.05
    assert result["levels"]["100000"]["power_50"] > 0.9
    assert result["levels"]["500"]["power_50"] == 0  # never enough data at 500 a day
    assert result["ingest_rows"] == 40 * 30 and result["attribution_listings"] == 40
    assert result["ingest_seconds"] > 0 and result["attribution_seconds"] > 0
    assert any("ingest_seconds" in line for line in lines[:-1])
    # The throw-away tenant and its rows are gone.
    assert not Tenant.objects.filter(slug__startswith="benchmark-effects").exists()
    assert EffectListing.unscoped.count() == 0 and DailyPerformance.unscoped.count() == 0


def test_the_benchmark_is_reproducible():
    outputs = []
    for _ in range(2):
        out = StringIO()
        call_command("benchmark_attribution", "--listings", "100", "--no-speed", stdout=out)
        outputs.append(json.loads(out.getvalue().strip().splitlines()[-1]))
    assert outputs[0] == outputs[1]
