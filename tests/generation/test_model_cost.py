"""The model cost of a SKU's languages: the prompt order lets the prefix cache serve the second
and third language, so three cost clearly less than three times one (generation.cost_benchmark,
the same run as `manage.py benchmark_model_cost`, on a few SKUs)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from generation import cost_benchmark

pytestmark = pytest.mark.django_db


def test_three_languages_cost_less_than_three_times_one():
    one, three = cost_benchmark.run(skus=6)
    assert one.ready == one.items and three.ready == three.items  # no failures to flatter it
    assert three.items == 3 * one.items
    assert three.cache_hit_share > one.cache_hit_share + 0.05
    assert three.cost < Decimal("2.7") * one.cost
    assert three.cost_per_call < Decimal("0.01")  # the brief's aim for a metered call
