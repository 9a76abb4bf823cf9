"""The compliance filter: banned words and length limits in AI-generated listing content.

Pure Python, no database. `find_violations` checks every text of one content item (as
`text_fields` lists them) against a banned-word list and the marketplace's length limits.

How a banned term matches (both the term and the text are normalised the same way):

- Unicode: NFKC (full-width letters, ligatures, "№" -> "no"), then casefold ("ß" -> "ss").
- Accents on Latin letters are dropped, so "mejor" and "méjor", "numero" and "numéro" are
  equal: sellers and models drop or misplace accents, and no banned word we know of differs
  from an allowed one by an accent alone. Cyrillic keeps its marks ("й" is not "и"), except
  that "ё" is read as "е", as Russian commonly writes it.
- Only letters and digits of a term count; between any two of them the text may have
  spaces, hyphens, dashes, dots, slashes, apostrophes, "%", "&" and the like (not commas,
  colons or brackets, which separate phrases). So "best seller", "bestseller", "Best-Seller"
  and "best  seller" are one term, whichever of them is listed.
- A term matches whole words only: it must not have a letter or digit right before or after
  it ("best" does not match "asbestos", "bestow" or "Bestway", but does match "best-selling").
- Plurals, for terms whose last letter is Latin: the term plus "s" or "es", and a term ending
  in consonant + "y" also as "ies" ("guarantee" -> "guarantees", "battery" -> "batteries").
  Gender and other inflections (French "meilleure", Italian "migliori", German "bester")
  are not guessed: list them. Non-Latin scripts get no plural rule.
- Rank claims are one term: "#1", "# 1", "No. 1", "No.1", "no 1", "Nº1", "№1", "N°1",
  "Nr. 1", "n.º 1", "n. 1", "number one", "Number 1", "numéro un", "número uno", "Nummer
  eins", "номер один"... Listing any of them catches all of them; none of them matches
  "#12", "No. 10" or "No. 1.5".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.utils.translation import gettext

from generation.content import length_limit, text_fields

BANNED_WORD = "banned_word"
TOO_LONG = "too_long"

# The key every rank claim shares (not a possible key of any other term: those are
# letters and digits only).
RANK_KEY = "#1"


@dataclass(frozen=True)
class Violation:
    path: str  # where, as text_fields labels it ("title", "bullet_points.2", ...)
    rule: str  # BANNED_WORD or TOO_LONG
    term: str = ""  # the banned word as listed
    matched: str = ""  # the text that matched, as written in the content
    length: int | None = None
    limit: int | None = None

    def explain(self) -> str:
        if self.rule == TOO_LONG:
            return gettext("Too long: %(length)s characters, the limit is %(limit)s.") % {
                "length": self.length, "limit": self.limit}
        if self.matched and self.matched != self.term:
            return gettext('"%(matched)s" is on the banned-word list (as "%(term)s").') % {
                "matched": self.matched, "term": self.term}
        return gettext('"%(term)s" is on the banned-word list.') % {"term": self.term}


# Normalisation -----------------------------------------------------------------------------

def _is_latin(char: str) -> bool:
    return "a" <= char <= "z" or "\u00c0" <= char <= "\u024f" or "\u1e00" <= char <= "\u1eff"


@lru_cache(maxsize=4096)
def _fold(cluster: str) -> str:
    """One base character with its combining marks, normalised."""
    folded = unicodedata.normalize("NFKC", cluster).casefold()
    kept: list[str] = []
    base = ""
    for char in unicodedata.normalize("NFD", folded):
        if unicodedata.combining(char):
            if _is_latin(base):
                continue  # an accent on a Latin letter: dropped
        else:
            base = char
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept)).replace("ё", "е")


def _normalise(text: str) -> tuple[str, list[int], list[int]]:
    """The normalised text, and for each of its characters the start and end offsets of the
    original characters it came from (so a match can be shown as written)."""
    if text.isascii():  # the common case: NFKC changes nothing, casefold is lower
        offsets = list(range(len(text)))
        return text.lower(), offsets, [offset + 1 for offset in offsets]
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    index, size = 0, len(text)
    while index < size:
        end = index + 1
        while end < size and unicodedata.combining(text[end]):
            end += 1
        folded = _fold(text[index:end])
        pieces.append(folded)
        starts.extend([index] * len(folded))
        ends.extend([end] * len(folded))
        index = end
    return "".join(pieces), starts, ends


def normalise(text: str) -> str:
    """`text` as the filter compares it."""
    return _normalise(text)[0]


# Rank claims, on normalised text. A digit "1" after a sign ("#1", "no. 1", "nr 1", "n°1",
# "n.o 1" from "n.º 1"); a number word only after a word for "number" (so "no one" stays).
_RANK = (
    r"(?:(?:\#|no\.?|nr\.?|n\s*(?:\.\s*o?|°))\s*1"
    r"|(?:number|numero|nummer|номер)[\s\-]*(?:1|one|uno|un|um|eins|один))"
    r"(?![.,]?\d)(?![^\W_])"
)
_RANK_TERM = re.compile(_RANK)

_WORD_CHAR = re.compile(r"[^\W_]")
# What may stand between two letters or digits of a term: any non-word character except
# those that end a phrase.
_SEP = r"(?:[^\w,;:!?()\[\]{}<>\"«»„“”\n]|_)*"
_START = r"(?<![^\W_])"
_END = r"(?![^\W_])"


def term_key(term: str) -> str:
    """What a banned term comes down to: RANK_KEY for a rank claim, otherwise its normalised
    letters and digits. Terms with the same key match the same texts."""
    folded = normalise(term).strip()
    if _RANK_TERM.fullmatch(folded):
        return RANK_KEY
    return "".join(_WORD_CHAR.findall(folded))


def _spellings(key: str) -> list[str]:
    """The key and its plural forms (Latin script only)."""
    if not _is_latin(key[-1]):
        return [key]
    forms = [key, key + "s", key + "es"]
    if len(key) > 1 and key[-1] == "y" and key[-2] not in "aeiou":
        forms.append(key[:-1] + "ies")
    return forms


class _Node:
    __slots__ = ("children", "term")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.term: str | None = None


@dataclass(frozen=True)
class _Compiled:
    regex: re.Pattern[str] | None
    terms: tuple[str, ...]  # the listed term for each capturing group (group n -> terms[n-1])


@lru_cache(maxsize=64)
def _compile(banned_terms: tuple[str, ...]) -> _Compiled:
    """One regex for the whole list: a trie of the terms' spellings, so the engine does not
    try 200 alternatives at each position. Each spelling ends in an empty group that tells
    which term matched. Compiling 200 terms takes about 0.1-0.2 s (hence the cache); checking
    an item against them then takes well under a millisecond."""
    root = _Node()
    rank_term: str | None = None
    for term in banned_terms:
        if not isinstance(term, str):
            continue
        key = term_key(term)
        if key == RANK_KEY:
            rank_term = rank_term or term
            continue
        if not key:
            continue
        for spelling in _spellings(key):
            node = root
            for char in spelling:
                node = node.children.setdefault(char, _Node())
            if node.term is None:  # the first listed term with this spelling wins
                node.term = term

    groups: list[str] = []

    def emit(node: _Node) -> str:
        # Longer spellings first, so "best seller" wins over "best" at the same place.
        branches = []
        if node.children:
            inner = "|".join(re.escape(char) + emit(child)
                             for char, child in node.children.items())
            branches.append(("" if node is root else _SEP) + f"(?:{inner})")
        if node.term is not None:
            groups.append(node.term)
            branches.append(_END + "()")
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    alternatives = [emit(root)] if root.children else []
    if rank_term is not None:
        groups.append(rank_term)
        alternatives.append(_RANK + "()")
    if not alternatives:
        return _Compiled(None, ())
    return _Compiled(re.compile(_START + "(?:" + "|".join(alternatives) + ")"), tuple(groups))


# Checks --------------------------------------------------------------------------------------

def find_banned_terms(text: str, banned_terms: Iterable[str]) -> list[tuple[str, str]]:
    """Every occurrence of a banned term in `text`, in order: (the term as listed, the text
    that matched as written)."""
    compiled = _compile(tuple(banned_terms))
    if compiled.regex is None or not text:
        return []
    folded, starts, ends = _normalise(text)
    found = []
    for match in compiled.regex.finditer(folded):
        start, end = match.span()
        if end <= start:
            continue
        found.append((compiled.terms[match.lastindex - 1], text[starts[start]:ends[end - 1]]))
    return found


def find_violations(kind: str, content: dict[str, Any], *, marketplace: str,
                    banned_terms: Iterable[str]) -> list[Violation]:
    """Every text of `content` that is too long for `marketplace`, or holds a banned term (one
    violation per term per text: its first occurrence)."""
    terms = tuple(banned_terms)
    violations: list[Violation] = []
    for path, text in text_fields(kind, content):
        limit = length_limit(marketplace, kind, path)
        if limit is not None and len(text) > limit:
            violations.append(Violation(path=path, rule=TOO_LONG, length=len(text), limit=limit))
        seen: set[str] = set()
        for term, matched in find_banned_terms(text, terms):
            if term not in seen:
                seen.add(term)
                violations.append(Violation(path=path, rule=BANNED_WORD, term=term,
                                            matched=matched))
    return violations
