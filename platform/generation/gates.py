"""Quality gates on every generated item, after the compliance filter and before review.

    language     each text field is in the requested language (lingua, whose models ship in
                 its wheel: no download at run time), judged on the words that are not the
                 product's own (brand and model names stay as the seller wrote them)
    facts        numbers with units, sizes, fractions, quantities, materials and colours in the
                 text are supported by the SKU's title, attributes or parameters; a
                 contradiction (steel for copper, 1-9/16 for 9/16) blocks approval until a
                 person edits or accepts it
    refusal      "as an AI", "I cannot", "lorem", "[brand]", unfilled template marks: the item
                 is regenerated once, then fails with ERR_CONTENT_REFUSAL
    limits       the marketplace's own limits per site and field (bytes of search terms,
                 bullet count; characters per field are content.LENGTH_LIMITS, checked by
                 the compliance filter), from MARKETPLACE_LIMITS with its source
    coverage     the share of the SKU's core attribute words and the seller's target search
                 terms found in the text (shown in review, never blocking)

Plain functions over plain data (no database): the pipeline, review, the evaluation of
instruction versions and `benchmark_quality` all call `check`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from generation.content import ContentKind, text_fields
from marketplaces.sites import Marketplace

LANGUAGE = "language"
FACT = "fact"
REFUSAL = "refusal"
PLACEHOLDER = "placeholder"
LIMIT = "limit"
# Findings that a person must clear (edit or accept) before the item can be approved;
# refusals and placeholders never reach review (regenerated, then failed).
BLOCKING = frozenset({LANGUAGE, FACT, LIMIT})
REGENERATE = frozenset({REFUSAL, PLACEHOLDER})

# A field is judged for its language only with this much text of its own left.
MIN_LANGUAGE_LETTERS = 15
MIN_LANGUAGE_WORDS = 3
# ... and judged wrong only when the requested language is clearly less likely than another.
CLEARLY_LESS_LIKELY = 0.5


@dataclass(frozen=True)
class Finding:
    gate: str  # LANGUAGE, FACT, REFUSAL, PLACEHOLDER or LIMIT
    path: str  # as content.text_fields labels it ("title", "bullet_points.2", ...)
    found: str = ""  # what the text says
    expected: str = ""  # what it should say (the language, the SKU's own value, the limit)

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.gate in BLOCKING]

    @property
    def needs_regeneration(self) -> bool:
        return any(finding.gate in REGENERATE for finding in self.findings)


# Explanations (review, the job page, error messages) ----------------------------------------

def explained(findings: list[Mapping[str, str]] | None) -> list[dict]:
    """The findings as the API shows them: each with its meaning and remedy, translated."""
    result = []
    for finding in findings or []:
        meaning, remedy = explain(finding)
        result.append({**finding, "meaning": meaning, "remedy": remedy})
    return result


def explain(finding: Mapping[str, str]) -> tuple[str, str]:
    """(what was found, what to do), translated, for a finding as stored on the item."""
    gate, found, expected = finding.get("gate"), finding.get("found", ""), \
        finding.get("expected", "")
    values = {"found": found, "expected": expected}
    if gate == LANGUAGE:
        return (gettext("Written in %(found)s, not in %(expected)s.") % {
                    "found": _language_name(found), "expected": _language_name(expected)},
                gettext("Rewrite the text in the requested language, or regenerate it."))
    if gate == FACT:
        if expected:
            return (gettext("“%(found)s” contradicts the product data (“%(expected)s”).")
                    % values,
                    gettext("Correct it to match the product data, or accept it if the "
                            "product data is wrong."))
        return (gettext("“%(found)s” is not in the product's title, attributes or "
                        "parameters.") % values,
                gettext("Remove it or correct it, or accept it if it is true."))
    if gate == REFUSAL:
        return (gettext("The model refused or wrote about itself: “%(found)s”.") % values,
                gettext("Regenerate the item; if it happens again, check the instructions."))
    if gate == PLACEHOLDER:
        return (gettext("An unfilled placeholder: “%(found)s”.") % values,
                gettext("Regenerate the item; if it happens again, check the instructions."))
    return (gettext("Over the marketplace's limit: %(found)s, the limit is %(expected)s.")
            % values, gettext("Shorten the text until it fits the limit."))


_FIELD_NAMES = {"title": _("Title"), "bullet_points": _("Bullet point"),
                "search_terms": _("Search terms"), "alt_text": _("Alt text"),
                "description": _("Description"), "modules": _("Module"), "heading": _("heading"),
                "body": _("text"), "shots": _("Shot"), "visual": _("visual"),
                "caption": _("caption"), "voiceover": _("Voice-over"), "opening": _("Opening"),
                "segments": _("Segment"), "topic": _("topic"), "script": _("script"),
                "closing": _("Closing")}


def field_label(path: str) -> str:
    """"bullet_points.2" -> "Bullet point 3"."""
    return " ".join(str(int(part) + 1) if part.isdigit()
                    else str(_FIELD_NAMES.get(part, part.replace("_", " ")))
                    for part in path.split(".") if part)


def _language_name(code: str) -> str:
    from generation.content import LANGUAGE_NAMES

    return str(LANGUAGE_NAMES.get(code, code))


# Marketplace limits ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Limits:
    search_terms_bytes: int  # all search terms together, UTF-8 bytes, separated by spaces
    bullet_points_max: int
    source: str


# One table per marketplace; a site that differs gets its own entry (key: the site's code).
# The sources: what each marketplace's seller center states for its listing editor; where it
# states none, the figure is the ISV's own rule, and `source` says so.
MARKETPLACE_LIMITS: dict[str, dict[str, Limits]] = {
    Marketplace.TEMU: {
        "": Limits(search_terms_bytes=250, bullet_points_max=6,
                   source="Temu Seller Center listing editor: up to 6 bullet points; search "
                          "terms: the ISV's rule of 250 bytes (the common backend-keyword "
                          "limit), as Temu publishes no byte limit"),
    },
    Marketplace.ALIEXPRESS: {
        "": Limits(search_terms_bytes=200, bullet_points_max=5,
                   source="AliExpress Seller Center product editor: up to 5 selling points; "
                          "keywords: the ISV's rule of 200 bytes"),
    },
}


def limits_for(marketplace: str, site: str = "") -> Limits | None:
    table = MARKETPLACE_LIMITS.get(marketplace, {})
    return table.get(site) or table.get("")


def check_limits(kind: str, content: Mapping[str, Any], *, marketplace: str,
                 site: str = "") -> list[Finding]:
    limits = limits_for(marketplace, site)
    if limits is None:
        return []
    findings = []
    if kind == ContentKind.SEARCH_TERMS:
        size = len(" ".join(content.get("search_terms", [])).encode())
        if size > limits.search_terms_bytes:
            findings.append(Finding(LIMIT, "search_terms", gettext("%(n)s bytes") % {"n": size},
                                    gettext("%(n)s bytes") % {"n": limits.search_terms_bytes}))
    if kind == ContentKind.BULLET_POINTS:
        count = len(content.get("bullet_points", []))
        if count > limits.bullet_points_max:
            findings.append(Finding(LIMIT, "bullet_points",
                                    gettext("%(n)s bullet points") % {"n": count},
                                    str(limits.bullet_points_max)))
    return findings


# Refusals and placeholders --------------------------------------------------------------------

_REFUSAL = re.compile("|".join((
    r"\bas an ai\b", r"\bas a (?:large )?language model\b", r"\bi (?:cannot|can't|can ?not|am "
    r"unable to|'m unable to|won't be able to)\b", r"\bi'?m sorry\b", r"\bi apologi[sz]e\b",
    r"\bcannot fulfil+\b", r"\ben tant qu'(?:ia|intelligence artificielle)\b",
    r"\bje ne (?:peux|suis) pas\b", r"\bals (?:ki|sprachmodell)\b", r"\bich kann (?:nicht|keine)\b",
    r"\bno puedo\b", r"\bcomo (?:una )?ia\b", r"\bnon posso\b", r"\bcome (?:un'?)?ia\b",
    r"\bnão posso\b", r"\bcomo (?:uma )?ia\b", r"не могу", r"\bкак (?:ии|языковая модель)\b",
)), re.IGNORECASE)
_PLACEHOLDER = re.compile("|".join((
    r"\blorem\b", r"\bipsum\b", r"\[[^\]\n]{1,40}\]", r"\{\{[^}\n]{0,40}\}\}",
    r"\{[a-z_]{1,30}\}", r"<(?:brand|product|name|insert)[^>\n]{0,30}>", r"\bTODO\b",
    r"\bxxx+\b", r"\bplaceholder\b",
)), re.IGNORECASE)


def check_refusals(kind: str, content: Mapping[str, Any]) -> list[Finding]:
    findings = []
    for path, text in text_fields(kind, dict(content)):
        if match := _REFUSAL.search(text):
            findings.append(Finding(REFUSAL, path, match.group(0)))
        elif match := _PLACEHOLDER.search(text):
            findings.append(Finding(PLACEHOLDER, path, match.group(0)))
    return findings


# Language ---------------------------------------------------------------------------------------

_LINGUA_NAMES = {"en": "ENGLISH", "fr": "FRENCH", "de": "GERMAN", "es": "SPANISH",
                 "it": "ITALIAN", "ru": "RUSSIAN", "pt": "PORTUGUESE"}
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)


@lru_cache(maxsize=1)
def _detector():
    """The lingua detector for the 7 languages; its models load on first use (about 3 s,
    once per process: workers warm it at start, see warm_up)."""
    from lingua import Language, LanguageDetectorBuilder

    languages = [getattr(Language, name) for name in _LINGUA_NAMES.values()]
    return LanguageDetectorBuilder.from_languages(*languages).build()


@lru_cache(maxsize=1)
def _codes() -> dict[Any, str]:
    from lingua import Language

    return {getattr(Language, name): code for code, name in _LINGUA_NAMES.items()}


def warm_up() -> None:
    detect_language("warm up the language models")


def detect_language(text: str) -> str | None:
    """The language code of `text` among the 7 (None: undecided)."""
    found = _detector().detect_language_of(text)
    return _codes().get(found) if found is not None else None


def other_language(text: str, language: str) -> str | None:
    """The language `text` is written in when that is clearly not `language`, else None
    (close neighbours such as Spanish and Portuguese on a few words are not judged)."""
    values = _detector().compute_language_confidence_values(text)
    if not values:
        return None
    codes = _codes()
    top = values[0]
    found = codes.get(top.language)
    if found is None or found == language:
        return None
    asked = next((value.value for value in values if codes.get(value.language) == language),
                 0.0)
    return found if asked < top.value * CLEARLY_LESS_LIKELY else None


def _own_words(text: str, source_words: frozenset[str]) -> str:
    """The words of `text` that are not the product's own (names, models, brand words)."""
    return " ".join(word for word in _WORD.findall(text) if _fold(word) not in source_words)


def check_language(kind: str, content: Mapping[str, Any], language: str,
                   source_words: frozenset[str] = frozenset(),
                   source_title: str = "") -> list[Finding]:
    """Each field's own words (not the product's) in `language`; and an item that is nothing
    but the product's own text, in another language than asked, is untranslated."""
    if language not in _LINGUA_NAMES:
        return []
    fields = text_fields(kind, dict(content))
    if kind == ContentKind.SEARCH_TERMS:  # single terms are too short: judge them together
        fields = [("search_terms", " ".join(text for _path, text in fields))]
    findings = []
    own_anywhere = 0
    for path, text in fields:
        own = _own_words(text, source_words)
        own_anywhere += len(own.split())
        if len(own.split()) < MIN_LANGUAGE_WORDS or \
                sum(char.isalpha() for char in own) < MIN_LANGUAGE_LETTERS:
            continue
        found = other_language(own, language)
        if found is not None:
            findings.append(Finding(LANGUAGE, path, found, language))
    if not findings and not own_anywhere and source_title:
        # Nothing of its own at all: the product's text copied untranslated.
        copied = " ".join(text for _path, text in fields)
        source_language = detect_language(source_title)
        if len(copied.split()) >= MIN_LANGUAGE_WORDS + 1 and source_language not in (
                None, language):
            findings.append(Finding(LANGUAGE, fields[0][0] if fields else "", source_language,
                                    language))
    return findings


# Facts ------------------------------------------------------------------------------------------

# Materials and colours in the 7 languages, each spelling mapped to one concept. A concept
# the text names must be one the product data names; a text naming another concept of the
# same group when the data names one is a contradiction.
_MATERIALS = {
    "copper": "copper cuivre kupfer cobre rame медь медный медная",
    "brass": "brass laiton messing latón latão ottone латунь",
    "steel": "steel stainless acier inox edelstahl stahl acero inoxidable acciaio aço сталь "
             "стальной стальная нержавеющая",
    "aluminium": "aluminium aluminum alu aluminio alluminio alumínio алюминий",
    "iron": "iron fer eisen hierro ferro железо чугун",
    "titanium": "titanium titane titan titanio titânio титан",
    "silver": "silver sterling argent silber plata argento prata серебро",
    "gold": "gold or oro ouro золото",
    "wood": "wood wooden bois holz madera legno madeira дерево деревянный bamboo bambou "
            "bambus bambú bambù бамбук",
    "glass": "glass verre glas vidrio vetro vidro стекло",
    "ceramic": "ceramic céramique keramik cerámica ceramica cerâmica керамика porcelain",
    "plastic": "plastic plastique kunststoff plástico plastica пластик abs pp polypropylene",
    "silicone": "silicone silikon silicona silicone силикон",
    "leather": "leather cuir leder cuero pelle couro кожа",
    "cotton": "cotton coton baumwolle algodón cotone algodão хлопок",
    "polyester": "polyester poliéster poliestere полиэстер",
    "wool": "wool laine wolle lana шерсть",
    "silk": "silk soie seide seda seta шёлк шелк",
    "nylon": "nylon nailon нейлон",
}
_COLOURS = {
    "black": "black noir schwarz negro nero preto чёрный черный",
    "white": "white blanc blanche weiß weiss blanco bianco branco белый",
    "red": "red rouge rot rojo rosso vermelho красный",
    "blue": "blue bleu blau azul blu синий голубой",
    "green": "green vert verte grün verde зелёный зеленый",
    "yellow": "yellow jaune gelb amarillo giallo amarelo жёлтый желтый",
    "pink": "pink rose rosa розовый",
    "purple": "purple violet lila morado viola roxo фиолетовый",
    "grey": "grey gray gris grau grigio cinza серый",
    "brown": "brown marron braun marrón marrone castanho коричневый",
    "orange": "orange naranja arancione laranja оранжевый",
    "beige": "beige beis бежевый",
}


def _index(groups: Mapping[str, str]) -> dict[str, str]:
    return {_fold(word): concept for concept, words in groups.items()
            for word in words.split()}


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


_MATERIAL_WORDS = _index(_MATERIALS)
_COLOUR_WORDS = _index(_COLOURS)
# Words that name a material only in some phrases ("or" is French gold and English "or").
_AMBIGUOUS = frozenset({"or", "alu", "pp", "rose", "orange", "argent"})

_UNITS = (r"mm|cm|m|km|in|inch|inches|ft|\"|''|ml|l|cl|oz|fl\s?oz|g|kg|lb|lbs|mah|w|v|kw|"
          r"hz|gb|tb|pcs|pc|pieces|pack|count|°c|°f|%|x")
# A number, a fraction or a mixed number (1-9/16, 1 9/16), a decimal with . or , and an
# optional unit right after it.
_QUANTITY = re.compile(
    r"(?<![\w/.,-])(\d+(?:[ -]\d+/\d+|/\d+|[.,]\d+)?)\s?(" + _UNITS + r")?(?![\w/])",
    re.IGNORECASE)


def _number(text: str) -> str:
    return text.replace(",", ".").replace(" ", "-")


def _unit(text: str | None) -> str:
    unit = (text or "").casefold().replace(" ", "")
    return {"inch": "in", "inches": "in", '"': "in", "''": "in", "pc": "pcs",
            "pieces": "pcs", "lbs": "lb"}.get(unit, unit)


@dataclass(frozen=True)
class Source:
    """What the SKU's own data supports: its words, numbers (with units) and concepts."""

    words: frozenset[str]
    numbers: frozenset[str]
    numbers_by_unit: Mapping[str, frozenset[str]]
    materials: frozenset[str]
    colours: frozenset[str]
    core_words: tuple[str, ...]


def source_of(product: Mapping[str, Any]) -> Source:
    """Read the product data (instructions.product_data's shape: title, category,
    attributes, parameters) once per item."""
    attributes = _pairs(product.get("attributes"))
    parameters = _pairs(product.get("parameters"))
    pieces = [str(product.get("title") or ""), str(product.get("category") or "")]
    pieces += [f"{key} {value}" for key, value in attributes + parameters]
    text = " ".join(pieces)
    words = frozenset(_fold(word) for word in _WORD.findall(text))
    by_unit: dict[str, set[str]] = {}
    numbers = set()
    for match in _QUANTITY.finditer(text):
        number = _number(match.group(1))
        numbers.add(number)
        numbers.update(number.split("-"))  # "1-9/16" also supports its parts being named
        by_unit.setdefault(_unit(match.group(2)), set()).add(number)
    core = tuple(dict.fromkeys(value for _key, value in attributes if value))
    return Source(words=words, numbers=frozenset(numbers),
                  numbers_by_unit={unit: frozenset(found) for unit, found in by_unit.items()},
                  materials=frozenset(_concepts(words, _MATERIAL_WORDS)),
                  colours=frozenset(_concepts(words, _COLOUR_WORDS)), core_words=core)


def _pairs(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, Mapping):
        return []
    return [(str(key), str(item)) for key, item in value.items()
            if item not in (None, "") and not isinstance(item, dict | list)]


def _concepts(words: Iterable[str], index: Mapping[str, str]) -> set[str]:
    return {index[word] for word in words if word in index and word not in _AMBIGUOUS}


def check_facts(kind: str, content: Mapping[str, Any], source: Source) -> list[Finding]:
    findings = []
    for path, text in text_fields(kind, dict(content)):
        for match in _QUANTITY.finditer(text):
            number, unit = _number(match.group(1)), _unit(match.group(2))
            if number in source.numbers:
                continue
            if not unit and number.isdigit() and int(number) < 2:
                continue  # "1" is as often a word ("one") as a claim
            same_unit = sorted(source.numbers_by_unit.get(unit, ())) if unit else []
            findings.append(Finding(FACT, path, match.group(0).strip(),
                                    ", ".join(f"{value} {unit}".strip() for value in same_unit)))
        words = {_fold(word) for word in _WORD.findall(text)}
        for group, index in ((source.materials, _MATERIAL_WORDS),
                             (source.colours, _COLOUR_WORDS)):
            for word in sorted(words):
                concept = index.get(word)
                if concept is None or word in _AMBIGUOUS or concept in group \
                        or word in source.words:
                    continue
                findings.append(Finding(FACT, path, word, ", ".join(sorted(group))))
    return findings


# Keyword coverage -------------------------------------------------------------------------------

def keyword_coverage(kind: str, content: Mapping[str, Any], source: Source,
                     target_terms: Iterable[str] = ()) -> dict[str, Any]:
    """What share of the core attribute words and target search terms the text names."""
    text = " " + " ".join(_tokens(piece) for _path, piece in text_fields(kind, dict(content))) \
        + " "

    def present(term: str) -> bool:
        folded = _tokens(term)
        return bool(folded) and f" {folded} " in text

    result: dict[str, Any] = {}
    for name, terms in (("attributes", source.core_words), ("targets", tuple(target_terms))):
        terms = tuple(dict.fromkeys(term for term in terms if term.strip()))
        missing = [term for term in terms if not present(term)]
        result[name] = {"total": len(terms), "covered": len(terms) - len(missing),
                        "share": round((len(terms) - len(missing)) / len(terms), 2)
                        if terms else None, "missing": missing}
    return result


_TOKEN = re.compile(r"\d+(?:[.,/]\d+)*|[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)


def _tokens(text: str) -> str:
    """The words and numbers of `text`, folded, in order, one space apart."""
    return " ".join(_fold(token) for token in _TOKEN.findall(text))


# All gates ---------------------------------------------------------------------------------------

def check(kind: str, content: Mapping[str, Any], *, language: str, marketplace: str,
          product: Mapping[str, Any], site: str = "", target_terms: Iterable[str] = (),
          source: Source | None = None) -> Report:
    """Every gate on one item's content."""
    source = source or source_of(product)
    findings = check_refusals(kind, content)
    if not findings:  # a refusal is regenerated whatever else it says
        findings += check_language(kind, content, language, source.words,
                                   str(product.get("title") or ""))
        findings += check_facts(kind, content, source)
        findings += check_limits(kind, content, marketplace=marketplace, site=site)
    return Report(findings=findings,
                  coverage=keyword_coverage(kind, content, source, target_terms))
