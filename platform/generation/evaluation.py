"""Evaluating instruction versions before they ship.

An evaluation set is a named list of SKUs (product data copied from any store, or JSON), each
optionally with reference texts per language. A version runs against a set through the model
nodes with `gateway.preview`, outside any tenant: no quota, no usage, no tenant's request log.
Each item is put through the quality gates (generation.gates), the compliance filter (banned
words, lengths), keyword coverage, cost and latency, and an LLM-as-judge score:

    the rubric below; three rounds, the median score of the three (a majority whenever two
    agree); judged by another node than the one that wrote the text; each round shows the
    candidates (the text, and the set's reference text when there is one) in a random order.

Two runs on the same set compare side by side (`compare`); publishing a version whose last run
scores worse on any gate than the published version's run on the same set needs a second
person's approval (instructions.publish). After publishing, `version_outcomes` reads what
reviewers did with the version's texts.
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from pydantic import ValidationError

from catalog.models import Product
from generation import compliance, gates, gateway, instructions, nodes
from generation.content import (
    JUDGE_HEADER,
    LANGUAGE_NAMES,
    PRODUCT_DATA_HEADER,
    VISION_KINDS,
    JudgeAnswer,
    as_plain_text,
)
from generation.models import EvaluationRun, EvaluationSet, InstructionVersion, ModelNode
from generation.pipeline import banned_terms
from tenants.models import User

JUDGE_ROUNDS = 3
RUBRIC = """You judge marketplace listing texts written by another model. Score each candidate
from 1 to 5:
5 = correct language, every fact matches the product data, the product's core attributes
    and search words are named, fluent, within the marketplace's limits, no superlatives;
4 = one small flaw (a weak word choice, a missing secondary attribute);
3 = usable after an edit (a missing core attribute, clumsy wording);
2 = needs rewriting (a wrong fact, the wrong language in part, padding);
1 = unusable (a refusal, a placeholder, invented facts, another language).
Judge each candidate on its own merits; the order in which they are shown means nothing.
Answer with one JSON object: {"scores": [one integer per candidate, in the order shown]}."""

# The gates compared between versions: the share of items without such a finding.
GATES = ("language", "fact", "refusal", "limit", "banned_word")


class EvaluationError(ValueError):
    pass


# Sets ------------------------------------------------------------------------------------

def case_from_product(product: Product, references: Mapping[str, str] | None = None
                      ) -> dict[str, Any]:
    """A case copied from a product of any store (ISV staff see every tenant's catalogue)."""
    return {"sku": product.sku, "product": instructions.product_data(product),
            "references": dict(references or {})}


def parse_cases(raw: str) -> list[dict[str, Any]]:
    """Cases written as JSON: a list of {"sku", "product": {...}, "references": {...}}."""
    try:
        found = json.loads(raw)
    except ValueError as error:
        raise EvaluationError(f"not JSON: {error}") from error
    if not isinstance(found, list) or not found:
        raise EvaluationError("a non-empty JSON list of cases is needed")
    cases = []
    for index, case in enumerate(found, start=1):
        product = case.get("product") if isinstance(case, dict) else None
        if not isinstance(product, dict) or not str(product.get("title", "")).strip():
            raise EvaluationError(f"case {index}: a product with a title is needed")
        references = case.get("references") or {}
        if not isinstance(references, dict):
            raise EvaluationError(f"case {index}: references must map languages to texts")
        cases.append({"sku": str(case.get("sku") or f"case-{index}"), "product": product,
                      "references": {str(k): str(v) for k, v in references.items()}})
    return cases


def create_set(*, name: str, cases: list[dict[str, Any]], description: str = "",
               by: User | None = None) -> EvaluationSet:
    if not cases:
        raise EvaluationError("an evaluation set needs at least one case")
    return EvaluationSet.objects.create(name=name, description=description, cases=cases,
                                        created_by=by)


def _product(data: Mapping[str, Any]) -> Product:
    """An unsaved product carrying the case's data (what build_messages reads)."""
    return Product(title=str(data.get("title", "")), category=str(data.get("category", "")),
                   attributes=dict(data.get("attributes") or {}),
                   parameters=dict(data.get("parameters") or {}),
                   bullet_points=list(data.get("bullet_points") or []),
                   description=str(data.get("description", "")))


# Runs ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Nodes:
    writer: ModelNode | None
    judge: ModelNode | None


def pick_nodes() -> Nodes:
    """The first text node writes; the next one (another node) judges."""
    found = nodes.candidates(vision=False)
    writer = found[0] if found else None
    judge = next((node for node in found[1:] if node.pk != getattr(writer, "pk", None)), None)
    return Nodes(writer, judge)


def run(version: InstructionVersion, evaluation_set: EvaluationSet, *,
        languages: Sequence[str], by: User | None = None, seed: int = 0) -> EvaluationRun:
    """Run `version` against the set in each language; every item is saved in the run."""
    languages = [language for language in languages if language in LANGUAGE_NAMES]
    if not languages:
        raise EvaluationError(gettext("Choose at least one language."))
    if version.instruction_set.kind in VISION_KINDS:
        raise EvaluationError(gettext("Image descriptions need the SKU's image: they are not "
                                      "evaluated from a set yet."))
    picked = pick_nodes()
    record = EvaluationRun.objects.create(
        version=version, evaluation_set=evaluation_set, languages=languages, created_by=by,
        writer_node=picked.writer.name if picked.writer else "",
        judge_node=picked.judge.name if picked.judge else "")
    if picked.writer is None:
        return _finish(record, [], "No enabled model node can do this work.")
    rng = random.Random(f"{seed}:{record.pk}")  # noqa: S311 (the candidates' order)
    results = [_item(version, case, language, picked, rng)
               for case in evaluation_set.cases for language in languages]
    return _finish(record, results, "")


def _finish(record: EvaluationRun, results: list[dict[str, Any]],
            error: str) -> EvaluationRun:
    record.results = results
    record.summary = summarise(results)
    record.status = EvaluationRun.Status.FAILED if error or not results or all(
        row.get("error_code") for row in results) else EvaluationRun.Status.COMPLETED
    record.error_message = error
    record.finished_at = timezone.now()
    record.save(update_fields=["results", "summary", "status", "error_message", "finished_at"])
    return record


def _item(version: InstructionVersion, case: Mapping[str, Any], language: str, picked: Nodes,
          rng: random.Random) -> dict[str, Any]:
    kind = version.instruction_set.kind
    marketplace = version.instruction_set.marketplace
    data = case["product"]
    terms = banned_terms(None, marketplace, language)
    messages = instructions.build_messages(version, kind=kind, language=language,
                                           marketplace=marketplace, product=_product(data),
                                           banned_terms=terms)
    answer = gateway.preview(picked.writer, messages, kind=kind)
    row: dict[str, Any] = {"sku": case.get("sku", ""), "language": language,
                           "latency_ms": answer.latency_ms, "cost": str(answer.cost),
                           "error_code": answer.error_code}
    if answer.content is None:
        row["error_message"] = answer.error_message
        return row
    report = gates.check(kind, answer.content, language=language, marketplace=marketplace,
                         product=data)
    violations = compliance.find_violations(kind, answer.content, marketplace=marketplace,
                                            banned_terms=terms)
    text = as_plain_text(kind, answer.content)
    row.update(content=answer.content, length=len(text),
               findings=[finding.as_dict() for finding in report.findings],
               violations=[{"path": v.path, "rule": v.rule, "term": v.term} for v in violations],
               coverage=report.coverage)
    reference = (case.get("references") or {}).get(language)
    row["judge"] = judge(picked.judge, data, text, reference, rng)
    return row


def judge(node: ModelNode | None, product: Mapping[str, Any], text: str,
          reference: str | None, rng: random.Random) -> dict[str, Any]:
    """The text's score from JUDGE_ROUNDS rounds on `node` (never the writer), the candidates
    shuffled each round; the reference's score beside it when there is one."""
    if node is None:
        return {"score": None, "note": "no second node to judge"}
    candidates = {"text": text, **({"reference": reference} if reference else {})}
    votes: dict[str, list[int]] = {name: [] for name in candidates}
    for _round in range(JUDGE_ROUNDS):
        order = list(candidates)
        rng.shuffle(order)
        messages = [{"role": "system", "content": RUBRIC},
                    {"role": "user", "content": (
                        f"{PRODUCT_DATA_HEADER} {json.dumps(dict(product), ensure_ascii=False)}"
                        f"\n{JUDGE_HEADER} "
                        f"{json.dumps([candidates[n] for n in order], ensure_ascii=False)}")}]
        answer = gateway.preview(node, messages, kind=None)
        try:
            scores = JudgeAnswer.model_validate(answer.content or {}).scores
        except ValidationError:
            continue
        for name, score in zip(order, scores, strict=False):
            if 1 <= score <= 5:
                votes[name].append(score)
    result: dict[str, Any] = {"votes": votes["text"], "order_randomised": len(candidates) > 1,
                              "score": _majority(votes["text"])}
    if reference:
        result["reference_score"] = _majority(votes["reference"])
    return result


def _majority(votes: list[int]) -> int | None:
    """The median of the rounds: the value two of three agree on, or the middle one."""
    return int(statistics.median_low(votes)) if votes else None


# Summaries and comparison -------------------------------------------------------------------

def summarise(results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    rows = list(results)
    done = [row for row in rows if not row.get("error_code")]
    summary: dict[str, Any] = {"items": len(rows), "errors": len(rows) - len(done)}
    if not done:
        return summary
    passed = {}
    for gate in GATES:
        if gate == "banned_word":
            clean = sum(not any(v["rule"] == compliance.BANNED_WORD for v in row["violations"])
                        for row in done)
        elif gate == "refusal":
            clean = sum(not any(f["gate"] in gates.REGENERATE for f in row["findings"])
                        for row in done)
        else:
            clean = sum(not any(f["gate"] == gate for f in row["findings"]) for row in done)
        passed[gate] = round(clean / len(done), 4)
    summary["gate_pass_rate"] = passed
    summary["too_long"] = sum(any(v["rule"] == compliance.TOO_LONG for v in row["violations"])
                              for row in done)
    summary["mean_length"] = round(statistics.fmean(row["length"] for row in done), 1)
    shares = [row["coverage"]["attributes"]["share"] for row in done
              if row["coverage"]["attributes"]["share"] is not None]
    summary["attribute_coverage"] = round(statistics.fmean(shares), 4) if shares else None
    summary["mean_latency_ms"] = round(statistics.fmean(row["latency_ms"] for row in done), 1)
    summary["cost_per_item"] = str((sum((Decimal(row["cost"]) for row in done), Decimal(0))
                                    / len(done)).quantize(Decimal("0.000001")))
    scores = [row["judge"]["score"] for row in done if row["judge"].get("score") is not None]
    summary["judge_score"] = round(statistics.fmean(scores), 2) if scores else None
    return summary


def worse_gates(candidate: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The gates on which `candidate`'s summary passes fewer items than `current`'s."""
    mine, theirs = candidate.get("gate_pass_rate", {}), current.get("gate_pass_rate", {})
    return [gate for gate in GATES if gate in mine and gate in theirs and mine[gate] < theirs[gate]]


def latest_run(version: InstructionVersion,
               evaluation_set_id: int | None = None) -> EvaluationRun | None:
    runs = EvaluationRun.objects.filter(version=version, status=EvaluationRun.Status.COMPLETED)
    if evaluation_set_id is not None:
        runs = runs.filter(evaluation_set_id=evaluation_set_id)
    return runs.order_by("-created_at", "-id").first()


@dataclass(frozen=True)
class Comparison:
    candidate: EvaluationRun
    current: EvaluationRun | None
    worse: list[str]

    def rows(self) -> list[tuple[str, Any, Any]]:
        mine = self.candidate.summary
        theirs = self.current.summary if self.current else {}
        rows = [(gate, mine.get("gate_pass_rate", {}).get(gate),
                 theirs.get("gate_pass_rate", {}).get(gate)) for gate in GATES]
        rows += [(name, mine.get(name), theirs.get(name))
                 for name in ("judge_score", "attribute_coverage", "mean_length",
                              "mean_latency_ms", "cost_per_item", "errors")]
        return rows


def compare_with_published(version: InstructionVersion) -> Comparison | None:
    """The version's last run beside the published version's last run on the same set."""
    mine = latest_run(version)
    if mine is None:
        return None
    published = InstructionVersion.objects.filter(
        instruction_set_id=version.instruction_set_id,
        status=InstructionVersion.Status.PUBLISHED).exclude(pk=version.pk).first()
    theirs = latest_run(published, mine.evaluation_set_id) if published else None
    worse = worse_gates(mine.summary, theirs.summary) if theirs else []
    return Comparison(mine, theirs, worse)


# After publishing ---------------------------------------------------------------------------

def version_outcomes(version: InstructionVersion) -> dict[str, Any]:
    """What became of the version's texts: reviewers' approval rate, the edit distance of their
    edits (share of words changed), and the quality gates' findings."""
    from generation.models import GenerationItem
    from review.models import Review  # review builds on generation: read it, never import it
    from review.selectors import word_diff

    items = GenerationItem.unscoped.filter(instruction_version=version)
    findings: dict[str, int] = {}
    for found in items.exclude(gate_findings=[]).values_list("gate_findings", flat=True):
        for finding in found:
            findings[finding["gate"]] = findings.get(finding["gate"], 0) + 1
    reviews = Review.unscoped.filter(item__instruction_version=version)
    decided = reviews.filter(~Q(status=Review.Status.PENDING))
    approved = decided.filter(status__in=[*Review.APPROVED_STATUSES, Review.Status.PUBLISHED])
    distances = []
    for review in decided.exclude(edited_content=None).select_related("item")[:500]:
        before = as_plain_text(review.item.kind, review.ai_content or {})
        after = as_plain_text(review.item.kind, review.edited_content or {})
        distances.append(_changed_share(word_diff, before, after))
    return {"items": items.count(), "decided": decided.count(),
            "approval_rate": round(approved.count() / decided.count(), 4)
            if decided.exists() else None,
            "edited": len(distances),
            "edit_distance": round(statistics.fmean(distances), 4) if distances else None,
            "findings": findings}


def _changed_share(word_diff, before: str, after: str) -> float:
    changed = total = 0
    for operation, text in word_diff(before, after):
        words = len(text.split())
        total += words
        if operation != "equal":
            changed += words
    return changed / total if total else 0.0


# Publishing ---------------------------------------------------------------------------------

class NeedsSecondApproval(Exception):
    def __init__(self, worse: list[str]) -> None:
        super().__init__(", ".join(worse))
        self.worse = worse


def check_publish(version: InstructionVersion, by: User | None) -> None:
    """Raise NeedsSecondApproval when the version scored worse than the published one on any
    gate and no other person has asked to publish it; record this person's request."""
    comparison = compare_with_published(version)
    if comparison is None or not comparison.worse:
        return
    requested = version.publish_requested_by_id
    if requested is not None and by is not None and requested != by.pk:
        return  # the second person approves
    if requested is None:
        with transaction.atomic():
            InstructionVersion.objects.filter(pk=version.pk).update(
                publish_requested_by=by, publish_requested_at=timezone.now())
        version.publish_requested_by = by
    raise NeedsSecondApproval(comparison.worse)
