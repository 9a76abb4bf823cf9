"""The prompt library: the shipped default instruction sets, the staff operations on versions
(draft, publish, retire), and the messages of one model request.

Request layout (see generation.content): the long, stable instructions come first and the
SKU's data last, so that every request of one marketplace and kind starts with the same bytes
and the provider's prompt cache hits:

1. system: the version's text, the marketplace's length limits for the kind, the banned terms
   (sorted), the JSON shape;
2. system (optional): the tenant's brand-voice notes;
3. user: the header lines (content kind, output language), the stricter instructions and
   findings (regeneration in compliance mode), the reviewer's note, then the product's data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from catalog.models import Product
from generation.banned_word_defaults import DEFAULT_BANNED_TERMS
from generation.content import (
    EXAMPLES,
    KIND_HEADER,
    LANGUAGE_ENDONYMS,
    LANGUAGE_HEADER,
    LENGTH_LIMITS,
    PRODUCT_DATA_HEADER,
    ContentKind,
)
from generation.models import BannedWord, InstructionSet, InstructionVersion
from marketplaces.sites import MARKETPLACE_NAMES, Marketplace
from tenants.models import User

LIBRARY_DIR = Path(__file__).resolve().parent / "library"
STRICT_FILE = "strict.txt"
DEFAULT_CHANGE_NOTE = "Shipped default instructions."
# The product's description is cut to this many characters in the request: enough for the
# facts, without letting one long description dominate the cost of an item.
DESCRIPTION_LIMIT = 2000


# The shipped library -----------------------------------------------------------------------

@cache
def library_text(name: str) -> str:
    """A shipped library file (e.g. "title", "marketplace_temu", "strict"), stripped."""
    return (LIBRARY_DIR / f"{name}.txt").read_text(encoding="utf-8").strip()


def default_text(kind: str, marketplace: str) -> str:
    """The shipped instructions for `kind` on `marketplace`: the kind's file followed by the
    marketplace's house rules."""
    return f"{library_text(kind)}\n\n{library_text(f'marketplace_{marketplace}')}"


def default_strict_text() -> str:
    return library_text(STRICT_FILE.removesuffix(".txt"))


def _set_name(kind: str, marketplace: str) -> str:
    label = ContentKind(kind).name.replace("_", " ").capitalize()
    return f"{MARKETPLACE_NAMES[Marketplace(marketplace)]}: {label}"


def ensure_default_library() -> None:
    """Create the shipped instruction sets (one per marketplace and kind, every category)
    with version 1 published, where the set does not exist yet; existing sets are never
    touched. Then load the ISV's default banned words on a fresh installation. Runs at every
    job start: when the library is complete, that is two queries."""
    existing = set(InstructionSet.objects.filter(category="")
                   .values_list("marketplace", "kind"))
    for marketplace in Marketplace:
        for kind in ContentKind:
            if (marketplace.value, kind.value) in existing:
                continue
            try:
                with transaction.atomic():
                    instruction_set = InstructionSet.objects.create(
                        kind=kind.value, marketplace=marketplace.value, category="",
                        name=_set_name(kind.value, marketplace.value))
                    InstructionVersion.objects.create(
                        instruction_set=instruction_set, number=1,
                        status=InstructionVersion.Status.PUBLISHED,
                        text=default_text(kind.value, marketplace.value),
                        strict_text=default_strict_text(), change_note=DEFAULT_CHANGE_NOTE,
                        published_at=timezone.now())
            except IntegrityError:
                continue  # created at the same moment by another process
    ensure_default_banned_words()


def ensure_default_banned_words() -> int:
    """On a fresh installation (an empty ISV list), load the shipped default banned words;
    return how many. Once staff keep the list, a word they deleted stays deleted."""
    if BannedWord.objects.exists():
        return 0
    words = [BannedWord(marketplace=marketplace, language=language, term=term)
             for marketplace, languages in DEFAULT_BANNED_TERMS.items()
             for language, terms in languages.items() for term in terms]
    BannedWord.objects.bulk_create(words, ignore_conflicts=True)
    return len(words)


# Looking up the version to use -------------------------------------------------------------

def published_version(kind: str, marketplace: str,
                      category: str = "") -> InstructionVersion | None:
    """The published version for `kind` on `marketplace`: the category's own set if it has a
    published version, else the marketplace-wide set's (category "")."""
    categories = [category, ""] if category else [""]
    versions = {
        version.instruction_set.category: version
        for version in InstructionVersion.objects.select_related("instruction_set").filter(
            status=InstructionVersion.Status.PUBLISHED, instruction_set__kind=kind,
            instruction_set__marketplace=marketplace, instruction_set__category__in=categories)
    }
    for wanted in categories:
        if wanted in versions:
            return versions[wanted]
    return None


# Staff operations --------------------------------------------------------------------------

def create_draft(instruction_set: InstructionSet, *, text: str, strict_text: str,
                 change_note: str, by: User | None) -> InstructionVersion:
    """A new draft version of the set, numbered after the highest existing one."""
    with transaction.atomic():
        InstructionSet.objects.select_for_update().filter(pk=instruction_set.pk).first()
        highest = instruction_set.versions.aggregate(highest=Max("number"))["highest"] or 0
        return InstructionVersion.objects.create(
            instruction_set=instruction_set, number=highest + 1,
            status=InstructionVersion.Status.DRAFT, text=text, strict_text=strict_text,
            change_note=change_note[:300], created_by=by)


def publish(version: InstructionVersion, *, by: User | None) -> InstructionVersion:
    """Publish `version` (a draft, or a retired version brought back) and retire the set's
    previously published version, in one transaction. A version whose last evaluation
    scored worse on any quality gate than the published version's on the same set needs a
    second person: the first one's request is recorded and evaluation.NeedsSecondApproval
    raised (generation.evaluation.check_publish)."""
    from generation.evaluation import check_publish  # evaluation builds on this module

    if version.status != InstructionVersion.Status.PUBLISHED:
        check_publish(version, by)
    with transaction.atomic():
        InstructionSet.objects.select_for_update().filter(pk=version.instruction_set_id).first()
        version.refresh_from_db()
        if version.status == InstructionVersion.Status.PUBLISHED:
            return version
        # Retire first: the database allows one published version per set.
        InstructionVersion.objects.filter(
            instruction_set_id=version.instruction_set_id,
            status=InstructionVersion.Status.PUBLISHED,
        ).update(status=InstructionVersion.Status.RETIRED)
        version.status = InstructionVersion.Status.PUBLISHED
        version.published_by = by
        version.published_at = timezone.now()
        version.save(update_fields=["status", "published_by", "published_at"])
    return version


def retire(version: InstructionVersion, *, by: User | None) -> InstructionVersion:
    """Take `version` out of use. A retired published version leaves the set without one: the
    marketplace-wide set is then used for that category (or nothing, for a marketplace-wide
    set). `by` is accepted for symmetry; versions keep who created and published them."""
    with transaction.atomic():
        InstructionVersion.objects.filter(pk=version.pk).update(
            status=InstructionVersion.Status.RETIRED)
    version.refresh_from_db()
    return version


# The messages of one request ---------------------------------------------------------------

def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str)


def _limits_block(marketplace: str, kind: str) -> str:
    limits = LENGTH_LIMITS.get(marketplace, {}).get(kind, {})
    name = MARKETPLACE_NAMES.get(marketplace, marketplace)  # StrEnum keys: a str finds them
    if not limits:
        return ""
    lines = [f"Length limits on {name} (characters, each list element counted alone):"]
    lines += [f"- {field}: at most {limit}" for field, limit in sorted(limits.items())]
    return "\n".join(lines)


def _stable_terms(terms: Iterable[str]) -> list[str]:
    """Stripped, sorted, one per case-insensitive spelling (the filter ignores case; of
    "Best" and "best" the lower-case one is kept)."""
    unique: dict[str, str] = {}
    for term in sorted({str(term).strip() for term in terms} - {""}):
        unique[term.casefold()] = term
    return [unique[key] for key in sorted(unique)]


def _banned_block(banned_by_language: Mapping[str, Iterable[str]]) -> str:
    """One list when a single language has terms, else one per language (in code order, so
    every item of a job sends the same block)."""
    lists = {code: terms for code in sorted(banned_by_language)
             if (terms := _stable_terms(banned_by_language[code]))}
    if not lists:
        return ""
    header = "Banned terms (never use them, in any case, spelling, plural or translation):"
    if len(lists) == 1:
        return header + "\n" + "\n".join(f"- {term}" for term in next(iter(lists.values())))
    return header + "".join(f"\n{LANGUAGE_ENDONYMS.get(code, code)} ({code}):\n"
                            + "\n".join(f"- {term}" for term in terms)
                            for code, terms in lists.items())


def _shape_block(kind: str) -> str:
    return ("Answer with exactly one JSON object in this shape and nothing else (no Markdown, "
            "no code fence, no comments); \"...\" marks the text you write:\n"
            + json.dumps(EXAMPLES[kind], ensure_ascii=False, sort_keys=True))


def product_data(product: Product) -> dict[str, Any]:
    """The product facts sent to the model (keys sorted when dumped)."""
    description = (product.description or "").strip()
    if len(description) > DESCRIPTION_LIMIT:
        description = description[:DESCRIPTION_LIMIT].rstrip() + "…"
    data: dict[str, Any] = {
        "title": product.title,
        "category": product.category,
        "attributes": product.attributes or {},
        "parameters": product.parameters or {},
        "bullet_points": product.bullet_points or [],
        "description": description,
    }
    if product.price is not None:
        data["price"] = str(product.price)
        data["currency"] = product.currency
    return data


def build_messages(version: InstructionVersion, *, kind: str, language: str, marketplace: str,
                   product: Product, brand_voice: str = "", banned_terms: Iterable[str] = (),
                   stricter: bool = False, findings: Iterable[str] = (), note: str = "",
                   image_url: str | None = None,
                   other_languages_banned: Mapping[str, Iterable[str]] | None = None,
                   ) -> list[dict[str, Any]]:
    """The OpenAI chat messages for one item, ordered for the model's prefix cache: what every
    item of the job shares first (instructions, limits, the banned terms of every language of
    the job, the answer's shape, brand voice), then the product (shared by the SKU's
    languages), then the output language and what belongs to this attempt alone (a stricter
    pass, a reviewer's note). A SKU's second and third languages then pay the cache-hit price
    for all but a few tokens (docs/architecture.md, "Model cost").

    `other_languages_banned`: the banned terms of the job's other languages, by language."""
    banned = {**(other_languages_banned or {}), language: banned_terms}
    system = "\n\n".join(part for part in (
        version.text.strip(),
        _limits_block(marketplace, kind),
        _banned_block(banned),
        _shape_block(kind),
    ) if part)
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    if brand_voice and brand_voice.strip():
        messages.append({"role": "system", "content":
                         "Brand voice of this seller (follow it unless it conflicts with the "
                         "rules above):\n" + brand_voice.strip()})

    endonym = LANGUAGE_ENDONYMS.get(language, language)
    parts = [f"{KIND_HEADER} {kind}",
             f"{PRODUCT_DATA_HEADER}\n{_dumps(product_data(product))}",
             f"{LANGUAGE_HEADER} {language} ({endonym})"]
    if stricter:
        parts.append((version.strict_text or "").strip() or default_strict_text())
        terms = _stable_terms(findings)
        if terms:
            parts.append("Findings last time (do not use these or any variant of them):\n"
                         + "\n".join(f"- {term}" for term in terms))
    if note and note.strip():
        parts.append("Reviewer's note for this regeneration (follow it within the rules):\n"
                     + note.strip())
    text = "\n\n".join(parts)

    if kind == ContentKind.IMAGE_DESCRIPTION and image_url:
        content: str | list[dict[str, Any]] = [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": image_url}},
        ]
    else:
        content = text
    messages.append({"role": "user", "content": content})
    return messages
