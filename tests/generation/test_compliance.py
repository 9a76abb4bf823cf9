"""The compliance filter: banned-word matching, length limits, and the shipped default lists.
Pure functions: no database."""

from __future__ import annotations

import pytest
from django.utils import translation

from generation.banned_word_defaults import (
    ALIEXPRESS_LANGUAGES,
    DEFAULT_BANNED_TERMS,
    TEMU_LANGUAGES,
    default_banned_terms,
)
from generation.compliance import (
    BANNED_WORD,
    RANK_KEY,
    TOO_LONG,
    Violation,
    _spellings,
    find_banned_terms,
    find_violations,
    normalise,
    term_key,
)
from generation.content import ContentKind
from marketplaces.sites import Marketplace


def matches(text: str, *terms: str) -> list[tuple[str, str]]:
    return find_banned_terms(text, terms)


def hit(text: str, term: str) -> bool:
    return bool(matches(text, term))


# Case and Unicode ----------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["BEST", "Best", "bEsT", "ｂｅｓｔ", "ＢＥＳＴ"])
def test_case_and_full_width_forms_match(text):
    assert matches(f"the {text} lamp", "best") == [("best", text)]


def test_accents_on_latin_letters_are_ignored_both_ways():
    assert hit("el méjor precio", "mejor")
    assert hit("el mejor precio", "méjor")
    assert hit("numéro un", "#1")
    assert hit("le moins cher", "le moins chèr")


def test_ligatures_and_sharp_s_are_normalised():
    assert hit("die größte Auswahl", "groesste") is False  # ß is "ss", not "oe"
    assert hit("die größte Auswahl", "grösste")
    assert hit("ﬁnest", "finest")


def test_decomposed_accents_match_and_are_shown_as_written():
    text = "el me\u0301jor"  # e + combining acute
    assert matches(text, "mejor") == [("mejor", "me\u0301jor")]


# Spacing and punctuation ---------------------------------------------------------------------

@pytest.mark.parametrize("text", ["bestseller", "Best-Seller", "best  seller", "best seller",
                                  "BEST_SELLER", "best\u2013seller"])
@pytest.mark.parametrize("term", ["best seller", "bestseller", "Best-Seller"])
def test_spacing_and_hyphens_do_not_matter(term, text):
    assert matches(f"A {text} for kids", term) == [(term, text)]


def test_best_selling_caught_by_either_listed_spelling():
    assert matches("best-selling mug", "best selling") == [("best selling", "best-selling")]
    assert matches("bestselling mug", "best selling") == [("best selling", "bestselling")]
    assert matches("best selling mug", "bestselling") == [("bestselling", "best selling")]


def test_phrase_punctuation_breaks_a_multi_word_term():
    assert not hit("free, shipping boxes", "free shipping")
    assert not hit("free (shipping) boxes", "free shipping")


def test_apostrophes_and_percent_inside_terms():
    assert matches("World’s Best pan", "world's best") == [("world's best", "World’s Best")]
    assert hit("worlds best pan", "world's best")
    assert hit("１００％ guaranteed", "100% guaranteed")
    assert hit("100 % guaranteed", "100% guaranteed")


# Rank claims ---------------------------------------------------------------------------------

RANK_SPELLINGS = ["#1", "# 1", "No. 1", "No.1", "no 1", "Nº1", "№1", "N°1", "number one",
                  "Number 1", "Nr. 1", "n.º 1", "n. 1", "nº 1", "numéro un", "número uno",
                  "Nummer eins", "номер один", "＃１"]


@pytest.mark.parametrize("listed", RANK_SPELLINGS)
def test_every_rank_spelling_is_one_term(listed):
    assert term_key(listed) == RANK_KEY
    for written in RANK_SPELLINGS:
        assert matches(f"The {written} choice", listed) == [(listed, written)], written


@pytest.mark.parametrize("text", ["#12 in line", "No. 10 size", "No.10", "no 11", "Nº12",
                                  "# 1.5 mm", "number 10", "no one can tell", "piano 1",
                                  "Model N1", "none 1", "numbers one"])
def test_rank_claims_do_not_over_match(text):
    assert matches(text, "#1", "No. 1", "number one") == []


def test_rank_claim_at_the_end_of_a_sentence():
    assert matches("It is the No.1.", "#1") == [("#1", "No.1")]


# Plurals -------------------------------------------------------------------------------------

def test_simple_plurals():
    assert matches("Two guarantees", "guarantee") == [("guarantee", "guarantees")]
    assert hit("the bests", "best")
    assert hit("boxes", "box")
    assert matches("spare batteries", "battery") == [("battery", "batteries")]
    assert hit("battery", "battery")
    assert hit("lowest prices", "lowest price")
    assert hit("los mejores", "mejor")
    assert hit("produits garantis", "garanti")


def test_plural_rules_stay_narrow():
    assert not hit("guaranteeing", "guarantee")
    assert not hit("toys", "toies")
    assert not hit("keys", "kies")  # vowel + y: no "ies" form ("key" -> "keys" only)
    assert hit("keys", "key")


# Word boundaries -----------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["asbestos sheet", "bestow", "Bestway pool", "the bestest",
                                  "rebest", "best2"])
def test_a_term_does_not_match_inside_another_word(text):
    assert not hit(text, "best")


def test_a_term_matches_next_to_punctuation():
    assert matches("(best) mug", "best") == [("best", "best")]
    assert matches("best-selling", "best") == [("best", "best")]
    assert matches("best!", "best") == [("best", "best")]


def test_the_longest_listed_term_wins_at_one_place():
    assert matches("best seller now", "best", "best seller") == [("best seller", "best seller")]
    assert matches("best mug", "best", "best seller") == [("best", "best")]


def test_every_occurrence_is_reported_in_order():
    found = matches("Best mug, #1 mug, BEST price", "best", "#1")
    assert found == [("best", "Best"), ("#1", "#1"), ("best", "BEST")]


def test_first_listed_spelling_is_reported():
    assert matches("No. 1 pick", "number one", "#1") == [("number one", "No. 1")]
    assert matches("bestseller", "Best Seller", "bestseller") == [("Best Seller", "bestseller")]


def test_empty_or_odd_term_lists():
    assert matches("best", ) == []
    assert matches("best", "", "  ", "---") == []
    assert find_banned_terms("", ["best"]) == []


# Cyrillic ------------------------------------------------------------------------------------

def test_cyrillic_case_and_word_boundaries():
    assert matches("ЛУЧШИЙ товар", "лучший") == [("лучший", "ЛУЧШИЙ")]
    assert hit("Это лучший выбор", "Лучший")
    assert not hit("наилучший выбор", "лучший")
    assert not hit("лучшийх", "лучший")
    assert hit("хит-продаж", "хит продаж")


def test_cyrillic_yo_is_read_as_ye_and_short_i_is_kept():
    assert matches("самый дешевый чайник", "самый дешёвый") == [
        ("самый дешёвый", "самый дешевый")]
    assert hit("самый дешёвый", "самый дешевый")
    assert not hit("мои", "мой")
    assert normalise("й") == "й"


# Violations ----------------------------------------------------------------------------------

def test_violations_carry_path_term_and_matched_text():
    content = {"bullet_points": ["Solid steel", "The BEST mug", "Rated #1, best of all",
                                 "Dishwasher safe", "Gift box"]}
    violations = find_violations(ContentKind.BULLET_POINTS, content,
                                 marketplace=Marketplace.TEMU, banned_terms=["best", "#1"])
    assert violations == [
        Violation(path="bullet_points.1", rule=BANNED_WORD, term="best", matched="BEST"),
        Violation(path="bullet_points.2", rule=BANNED_WORD, term="#1", matched="#1"),
        Violation(path="bullet_points.2", rule=BANNED_WORD, term="best", matched="best"),
    ]


def test_nested_paths():
    content = {"modules": [{"heading": "Why us", "body": "Fine"},
                           {"heading": "Guaranteed fit", "body": "Cheapest around"}]}
    violations = find_violations(ContentKind.DETAIL_MODULES, content,
                                 marketplace=Marketplace.ALIEXPRESS,
                                 banned_terms=("guaranteed", "cheapest"))
    assert [(v.path, v.term, v.matched) for v in violations] == [
        ("modules.1.heading", "guaranteed", "Guaranteed"),
        ("modules.1.body", "cheapest", "Cheapest"),
    ]


def test_clean_content_has_no_violations():
    assert find_violations(ContentKind.TITLE, {"title": "Steel travel mug, 500 ml"},
                           marketplace=Marketplace.TEMU,
                           banned_terms=default_banned_terms(Marketplace.TEMU, "en")) == []


@pytest.mark.parametrize(("marketplace", "limit"), [(Marketplace.ALIEXPRESS, 128),
                                                     (Marketplace.TEMU, 250)])
def test_title_length_limit_per_marketplace(marketplace, limit):
    def check(title):
        return find_violations(ContentKind.TITLE, {"title": title}, marketplace=marketplace,
                               banned_terms=[])

    assert check("x" * limit) == []
    assert check("x" * (limit + 1)) == [
        Violation(path="title", rule=TOO_LONG, length=limit + 1, limit=limit)]


def test_a_200_character_title_is_too_long_on_aliexpress_only():
    title = {"title": "y" * 200}
    assert find_violations(ContentKind.TITLE, title, marketplace=Marketplace.TEMU,
                           banned_terms=[]) == []
    assert find_violations(ContentKind.TITLE, title, marketplace=Marketplace.ALIEXPRESS,
                           banned_terms=[])[0].limit == 128


def test_length_limits_apply_to_each_list_element():
    terms = {"search_terms": ["mug", "z" * 41, "cup"]}
    violations = find_violations(ContentKind.SEARCH_TERMS, terms,
                                 marketplace=Marketplace.ALIEXPRESS, banned_terms=[])
    assert violations == [Violation(path="search_terms.1", rule=TOO_LONG, length=41, limit=40)]
    assert find_violations(ContentKind.SEARCH_TERMS, terms, marketplace=Marketplace.TEMU,
                           banned_terms=[]) == []


def test_too_long_and_banned_in_one_field():
    violations = find_violations(ContentKind.TITLE, {"title": "Best " + "m" * 130},
                                 marketplace=Marketplace.ALIEXPRESS, banned_terms=["best"])
    assert [v.rule for v in violations] == [TOO_LONG, BANNED_WORD]


def test_explain_texts():
    with translation.override("en"):
        assert Violation("title", BANNED_WORD, term="best", matched="best").explain() == (
            '"best" is on the banned-word list.')
        assert Violation("title", BANNED_WORD, term="#1", matched="No. 1").explain() == (
            '"No. 1" is on the banned-word list (as "#1").')
        assert Violation("title", TOO_LONG, length=130, limit=128).explain() == (
            "Too long: 130 characters, the limit is 128.")


# Defaults ------------------------------------------------------------------------------------

def test_defaults_cover_every_marketplace_and_language():
    assert set(DEFAULT_BANNED_TERMS) == {Marketplace.TEMU, Marketplace.ALIEXPRESS}
    assert set(DEFAULT_BANNED_TERMS[Marketplace.TEMU]) == set(TEMU_LANGUAGES) == {
        "en", "fr", "de", "es", "it"}
    assert set(DEFAULT_BANNED_TERMS[Marketplace.ALIEXPRESS]) == set(ALIEXPRESS_LANGUAGES) == {
        "en", "fr", "de", "es", "it", "ru", "pt"}
    for languages in DEFAULT_BANNED_TERMS.values():
        for terms in languages.values():
            assert 20 <= len(terms) <= 45


def all_default_lists():
    return [(marketplace, language, terms)
            for marketplace, languages in DEFAULT_BANNED_TERMS.items()
            for language, terms in languages.items()]


@pytest.mark.parametrize(("marketplace", "language", "terms"), all_default_lists())
def test_defaults_have_no_duplicates_after_normalisation(marketplace, language, terms):
    keys = [term_key(term) for term in terms]
    assert all(keys), terms
    assert len(set(keys)) == len(keys), sorted(k for k in keys if keys.count(k) > 1)
    # Nor a term that is only a plural the filter already derives from another.
    for key in keys:
        others = {spelling for other in keys if other != key for spelling in _spellings(other)}
        assert key not in others, key


@pytest.mark.parametrize(("marketplace", "language", "terms"), all_default_lists())
def test_each_default_term_catches_itself_and_has_one_rank_claim(marketplace, language, terms):
    for term in terms:
        # The match spans the term's letters and digits (a trailing "%" is not one).
        found, matched = find_banned_terms(f"… {term} …", terms)[0]
        assert (found, term_key(matched)) == (term, term_key(term))
    assert sum(term_key(term) == RANK_KEY for term in terms) == 1


def test_temu_is_stricter_than_aliexpress():
    for language in TEMU_LANGUAGES:
        temu = set(DEFAULT_BANNED_TERMS[Marketplace.TEMU][language])
        aliexpress = set(DEFAULT_BANNED_TERMS[Marketplace.ALIEXPRESS][language])
        assert aliexpress < temu
    assert matches("Free shipping today", *default_banned_terms(Marketplace.TEMU, "en"))
    assert not matches("Free shipping today", *default_banned_terms(Marketplace.ALIEXPRESS, "en"))


def test_defaults_catch_the_brief_examples():
    cases = [("en", "The #1 best seller"), ("fr", "Le N° 1 des ventes"),
             ("de", "Der billigste Preis"), ("es", "El más barato"),
             ("it", "Il più economico"), ("ru", "Самый дешевый"), ("pt", "O mais barato")]
    for language, text in cases:
        assert find_banned_terms(text, DEFAULT_BANNED_TERMS[Marketplace.ALIEXPRESS][language])


def test_default_banned_terms_returns_a_copy():
    terms = default_banned_terms(Marketplace.TEMU, "en")
    terms.append("x")
    assert "x" not in DEFAULT_BANNED_TERMS[Marketplace.TEMU]["en"]
    assert default_banned_terms(Marketplace.TEMU, "ru") == []
