"""`manage.py benchmark_quality`: the quality gates' accuracy on their fixtures and their cost
per item (generation.quality_benchmark). No database; ends with one JSON line."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from generation import quality_benchmark as bench


class Command(BaseCommand):
    help = ("Measure the quality gates: language detection on the 7-language fixture, the "
            "fact check on the fixture of contradictions, and milliseconds per item.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--products", type=int, default=40,
                            help="Sandbox products timed (x 7 languages x 7 kinds).")

    def handle(self, *args, products: int, **options) -> None:
        figures = bench.measure(products)
        write = self.stdout.write
        write(f"language: {figures.language_accuracy:.2%} of {figures.language_cases} texts "
              f"in 7 languages (aim at least {bench.LANGUAGE_AIM:.0%})")
        for error in figures.language_errors:
            write(f"  {error['expected']} read as {error['found'] or '?'}: {error['text']}")
        write(f"facts: recall {figures.fact_check_recall:.2%} (aim {bench.RECALL_AIM:.0%}), "
              f"precision {figures.fact_check_precision:.2%} (aim {bench.PRECISION_AIM:.0%}) "
              f"on {figures.fact_cases} cases")
        for error in figures.fact_errors:
            write(f"  {error}")
        write(f"gates: {figures.gate_ms_per_item:.3f} ms per item over {figures.gate_items} "
              f"items (aim at most {bench.MS_PER_ITEM_AIM:g} ms)")
        write(json.dumps({
            "language_accuracy": figures.language_accuracy,
            "fact_check_recall": figures.fact_check_recall,
            "fact_check_precision": figures.fact_check_precision,
            "gate_ms_per_item": figures.gate_ms_per_item,
            "language_cases": figures.language_cases, "fact_cases": figures.fact_cases,
            "gate_items": figures.gate_items}))
