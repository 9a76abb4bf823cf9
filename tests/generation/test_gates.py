"""The quality gates as plain functions, on their fixtures and on the failure cases users of
other tools reported, and the `benchmark_quality` command."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import translation

from generation import gates, quality_benchmark

BOTTLE = {"title": "Stainless Steel Insulated Water Bottle 750 ml Matte Black",
          "attributes": {"material": "stainless steel", "colour": "matte black",
                         "capacity": "750 ml"},
          "parameters": {"weight": "380 g"}}
FITTING = {"title": "Copper Pipe Fitting Elbow 90 Degree 9/16 inch",
           "attributes": {"material": "copper", "size": "9/16 inch"}}


def check(kind, content, *, language="en", product=BOTTLE, **extra):
    return gates.check(kind, content, language=language, marketplace="temu", product=product,
                       **extra)


def test_the_language_fixture_is_at_least_99_percent_right():
    accuracy, cases, errors = quality_benchmark.language_accuracy()
    assert cases == 105 and accuracy >= 0.99, errors


def test_the_fact_fixture_meets_its_aims():
    recall, precision, cases, errors = quality_benchmark.fact_check()
    assert cases >= 40 and recall >= 0.95 and precision >= 0.9, errors


def test_copper_written_as_steel_and_9_16_as_1_9_16_are_contradictions():
    steel = check("title", {"title": "Steel Pipe Fitting Elbow 90 Degree 9/16 inch"},
                  product=FITTING)
    assert [(f.gate, f.found, f.expected) for f in steel.findings] == [
        ("fact", "steel", "copper")]
    mixed = check("title", {"title": "Copper Pipe Fitting Elbow 90 Degree 1-9/16 inch"},
                  product=FITTING)
    assert [(f.gate, f.found) for f in mixed.findings] == [("fact", "1-9/16 inch")]
    assert mixed.findings[0].expected == "9/16 in"
    assert steel.blocking and not steel.needs_regeneration


def test_supported_and_translated_facts_pass():
    for language, title in (("fr", "Gourde isotherme en acier inoxydable 750 ml, noir mat"),
                            ("de", "Isolierte Trinkflasche aus Edelstahl, 750 ml, schwarz"),
                            ("en", "Stainless Steel Water Bottle, 750 ml, 380 g")):
        assert check("title", {"title": title}, language=language).findings == []


def test_wrong_language_is_found_per_field_without_the_products_own_words():
    content = {"bullet_points": ["Stainless Steel Water Bottle: robust und praktisch, für "
                                 "jeden Tag gemacht.",
                                 "Matte Black: facile à nettoyer et prêt à l'emploi.",
                                 "Stainless Steel"]}
    findings = check("bullet_points", content, language="fr").findings
    assert [(f.path, f.found, f.expected) for f in findings] == [
        ("bullet_points.0", "de", "fr")]


@pytest.mark.parametrize("text", ["I'm sorry, but I cannot fulfil this request.",
                                  "As an AI language model, I do not sell bottles.",
                                  "Je ne peux pas répondre à cette demande."])
def test_refusals_are_regenerated(text):
    report = check("title", {"title": text})
    assert report.needs_regeneration and report.findings[0].gate == gates.REFUSAL


@pytest.mark.parametrize("text", ["[brand] water bottle 750 ml", "Lorem ipsum dolor sit amet",
                                  "Water bottle for {customer_name}", "Bottle {{ colour }}"])
def test_placeholders_are_regenerated(text):
    report = check("title", {"title": text})
    assert report.needs_regeneration and report.findings[0].gate == gates.PLACEHOLDER


def test_marketplace_limits_per_site_and_field_cite_their_source():
    terms = {"search_terms": ["insulated water bottle stainless steel"] * 7}
    temu = check("search_terms", terms)
    assert [f.gate for f in temu.findings] == [gates.LIMIT]
    ali = gates.check_limits("bullet_points", {"bullet_points": ["a"] * 6},
                             marketplace="aliexpress", site="aliexpress-fr")
    assert ali and ali[0].expected == "5"
    for table in gates.MARKETPLACE_LIMITS.values():
        assert all(limits.source for limits in table.values())


def test_keyword_coverage_scores_core_words_and_target_terms():
    report = check("title", {"title": "Stainless Steel Bottle 750 ml for the gym"},
                   target_terms=["gym", "hiking flask"])
    assert report.coverage["attributes"]["covered"] == 2  # stainless steel, 750 ml
    assert report.coverage["attributes"]["missing"] == ["matte black"]
    assert report.coverage["targets"] == {"total": 2, "covered": 1, "share": 0.5,
                                          "missing": ["hiking flask"]}


def test_findings_are_explained_in_chinese():
    finding = gates.Finding(gates.FACT, "title", "steel", "copper").as_dict()
    with translation.override("zh-hans"):
        meaning, remedy = gates.explain(finding)
    assert "steel" in meaning and "copper" in meaning
    assert any("\u4e00" <= char <= "\u9fff" for char in meaning + remedy)


def test_benchmark_quality_ends_with_one_json_line():
    out = StringIO()
    call_command("benchmark_quality", products=3, stdout=out)
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert last["language_accuracy"] >= 0.99
    assert last["fact_check_recall"] >= 0.95 and last["fact_check_precision"] >= 0.9
    assert 0 < last["gate_ms_per_item"] < 20 and last["gate_items"] == 3 * 7 * 7


def test_the_products_own_text_copied_untranslated_is_the_wrong_language():
    copied = {"title": "Stainless Steel Insulated Water Bottle 750 ml Matte Black"}
    findings = check("title", copied, language="fr").findings
    assert [(f.gate, f.found, f.expected) for f in findings] == [("language", "en", "fr")]
    assert check("title", copied, language="en").findings == []
    translated = {"title": "Stainless Steel Insulated Water Bottle 750 ml, idée cadeau"}
    assert check("title", translated, language="fr").findings == []
