"""`benchmark_quality`: how well the quality gates (generation.gates) judge, and what they cost.

    language_accuracy      the detector on the 7-language fixture (quality_fixtures/
                           languages.json: marketplace sentences, 15 a language)
    fact_check_recall      contradictions found / contradictions in quality_fixtures/facts.json
    fact_check_precision   contradictions among the cases flagged
    gate_ms_per_item       every gate on one item, averaged over the sandbox's content for
                           every kind and language (the detector's models loaded first, as a
                           worker loads them once at start)

The fixtures were written by hand with the known failure cases (copper written as steel,
9/16 as 1-9/16) and their supported translations; a new failure seen in the field belongs
there, with a test.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from generation import gates
from generation.content import KIND_HEADER, LANGUAGE_HEADER, PRODUCT_DATA_HEADER, SHAPES

FIXTURES = Path(__file__).parent / "quality_fixtures"
LANGUAGE_AIM = 0.99
RECALL_AIM = 0.95
PRECISION_AIM = 0.9
MS_PER_ITEM_AIM = 20.0


@dataclass
class QualityFigures:
    language_accuracy: float
    language_cases: int
    language_errors: list[dict[str, str]]
    fact_check_recall: float
    fact_check_precision: float
    fact_cases: int
    fact_errors: list[str]
    gate_ms_per_item: float
    gate_items: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def language_accuracy() -> tuple[float, int, list[dict[str, str]]]:
    errors, total = [], 0
    for language, texts in load("languages.json").items():
        for text in texts:
            total += 1
            found = gates.detect_language(text)
            if found != language:
                errors.append({"expected": language, "found": found or "", "text": text})
    return (total - len(errors)) / total, total, errors


def fact_check() -> tuple[float, float, int, list[str]]:
    cases = load("facts.json")
    true_positive = false_positive = false_negative = 0
    errors = []
    for case in cases:
        flagged = bool(gates.check_facts("title", {"title": case["text"]},
                                         gates.source_of(case["product"])))
        if flagged and case["contradiction"]:
            true_positive += 1
        elif flagged:
            false_positive += 1
            errors.append(f"flagged, but supported: {case['name']}")
        elif case["contradiction"]:
            false_negative += 1
            errors.append(f"missed: {case['name']}")
    recall = true_positive / ((true_positive + false_negative) or 1)
    precision = true_positive / ((true_positive + false_positive) or 1)
    return recall, precision, len(cases), errors




def sandbox_items(products: int) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(kind, language, product data, content) as the model sandbox writes them."""
    from sandbox import model_content, pool  # the benchmark's tool, not the product's

    items = []
    for index in range(products):
        product = pool.product("1001", 7, index)
        data = {"title": product.title, "category": product.category,
                "attributes": product.attributes, "parameters": product.parameters}
        for language in gates._LINGUA_NAMES:
            for kind in SHAPES:
                request = [{"role": "user", "content": (
                    f"{KIND_HEADER} {kind}\n{LANGUAGE_HEADER} {language}\n"
                    f"{PRODUCT_DATA_HEADER}\n{json.dumps(data)}")}]
                content = json.loads(model_content.write(request, f"{index}:{language}:{kind}"))
                items.append((kind, language, data, content))
    return items


def gate_cost(products: int) -> tuple[float, int]:
    items = sandbox_items(products)
    gates.warm_up()
    began = time.perf_counter()
    for kind, language, data, content in items:
        gates.check(kind, content, language=language, marketplace="temu", product=data,
                    target_terms=("gift",))
    return (time.perf_counter() - began) * 1000 / len(items), len(items)


def measure(products: int = 40) -> QualityFigures:
    accuracy, language_cases, language_errors = language_accuracy()
    recall, precision, fact_cases, fact_errors = fact_check()
    ms_per_item, gate_items = gate_cost(products)
    return QualityFigures(
        language_accuracy=round(accuracy, 4), language_cases=language_cases,
        language_errors=language_errors, fact_check_recall=round(recall, 4),
        fact_check_precision=round(precision, 4), fact_cases=fact_cases,
        fact_errors=fact_errors, gate_ms_per_item=round(ms_per_item, 3),
        gate_items=gate_items)
