"""One item, from claim to review: quota, model call, compliance, result.

    claim -> reserve one call of the store's quota -> model call (gateway: deadline, backup
    node, JSON checks) -> compliance filter (in compliance mode: one stricter regeneration,
    then a mandatory human check) -> READY for review with the call settled, or FAILED with
    the call released.

Exactly once: an item is claimed with a conditional UPDATE that records a claim token, and
it ends with another that requires the token. A second worker (a redelivered message, a
recovered lease) either finds the item claimed or ended and does nothing, or takes over an
expired claim, after which the first worker's ending changes nothing. The quota steps are
idempotent per item and generation (`GenerationItem.quota_key`), so no call is charged twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from billing import quota
from generation import compliance, gateway, instructions
from generation.content import VISION_KINDS
from generation.models import (
    BannedWord,
    BrandVoice,
    GenerationItem,
    GenerationJob,
    ModelRequestLog,
    TenantBannedWord,
)
from generation.prechecks import main_image_url

Status = GenerationItem.Status
JobStatus = GenerationJob.Status


class _LostClaim(Exception):
    """Another worker took the item over: this worker's ending must not count."""


@dataclass
class Ending:
    """How an item ended, for the caller (tasks, tests, the benchmark)."""

    status: str
    error_code: str = ""


# Claim -------------------------------------------------------------------------------------

def claim(item_id: int) -> tuple[GenerationItem, str] | None:
    """Take the item for this worker, or None if it is not ours to run."""
    now = timezone.now()
    token = uuid.uuid4().hex
    taken = GenerationItem.unscoped.filter(
        Q(pk=item_id) & (Q(status__in=(Status.QUEUED, Status.DISPATCHED))
                         | Q(status=Status.RUNNING, lease_expires_at__lt=now)),
        job__status__in=GenerationJob.ACTIVE_STATUSES,
    ).update(status=Status.RUNNING, claim_token=token, started_at=now,
             lease_expires_at=now + timedelta(seconds=settings.GENERATION_ITEM_LEASE_SECONDS))
    if not taken:
        return None
    item = (GenerationItem.unscoped
            .select_related("job", "store__tenant", "product", "instruction_version")
            .get(pk=item_id))
    return item, token


# Banned words and brand voice (read once per job and worker, not per item) --------------

def banned_terms(tenant_id: int, marketplace: str, language: str) -> list[str]:
    """The ISV's list plus the tenant's own, for one marketplace and language."""
    applies = (Q(marketplace="") | Q(marketplace=marketplace)) & (Q(language="") |
                                                                   Q(language=language))
    terms = set(BannedWord.objects.filter(applies).values_list("term", flat=True))
    terms.update(TenantBannedWord.unscoped.filter(applies, tenant_id=tenant_id)
                 .values_list("term", flat=True))
    return sorted(terms)


@lru_cache(maxsize=256)  # the most recent jobs' languages; thread-safe for a threads pool
def _job_context(job_id: int, tenant_id: int, marketplace: str,
                 language: str) -> tuple[tuple[str, ...], str]:
    """The banned terms and brand voice of one job and language (`job_id` keys the cache: a
    new job reads them afresh)."""
    voice = (BrandVoice.unscoped.filter(tenant_id=tenant_id)
             .values_list("notes", flat=True).first() or "")
    return tuple(banned_terms(tenant_id, marketplace, language)), voice


def _context(item: GenerationItem) -> tuple[tuple[str, ...], str]:
    return _job_context(item.job_id, item.tenant_id, item.store.site.marketplace,
                        item.language)


# Run ---------------------------------------------------------------------------------------

def run_item(item_id: int) -> Ending | None:
    """Carry one item through the pipeline. None when the item was not ours to run."""
    claimed = claim(item_id)
    if claimed is None:
        return None
    item, token = claimed
    try:
        quota.reserve_call(item.store, item.quota_key)
    except quota.QuotaError as error:
        return _fail(item, token, error.code, error.message)
    try:
        content, findings, flagged, answer = _write(item)
    except gateway.ModelCallFailed as error:
        return _fail(item, token, error.code, error.message, attempts=error.attempts)
    except _Rejected as rejection:
        return _fail(item, token, "ERR_CONTENT_REJECTED", rejection.message,
                     attempts=rejection.attempts, rejected=rejection.content,
                     findings=rejection.findings)
    return _succeed(item, token, content, findings, flagged, answer)


class _Rejected(Exception):
    def __init__(self, message: str, answer: gateway.Answer, findings: list[dict]) -> None:
        super().__init__(message)
        self.message, self.findings = message, findings
        self.content, self.attempts = answer.content, answer.attempts


def _write(item: GenerationItem) -> tuple[dict, list[dict], bool, gateway.Answer]:
    """Ask the model; check the answer; in compliance mode regenerate once, stricter. Returns
    the content, the first answer's findings, whether a person must check it, and the
    answer that was kept (its node and how many requests the item took)."""
    terms, voice = _context(item)
    marketplace = item.store.site.marketplace
    vision = item.kind in VISION_KINDS
    build = dict(kind=item.kind, language=item.language, marketplace=marketplace,
                 product=item.product, brand_voice=voice, banned_terms=terms,
                 note=item.regeneration_note,
                 image_url=main_image_url(item.product) if vision else None)
    messages = instructions.build_messages(item.instruction_version, **build)
    answer = gateway.generate(item, messages, vision=vision)
    violations = compliance.find_violations(item.kind, answer.content, marketplace=marketplace,
                                            banned_terms=terms)
    if not violations:
        return answer.content, [], False, answer
    findings = [_finding(violation) for violation in violations]
    if not item.job.compliance_mode:
        raise _Rejected(_explain(violations), answer, findings)
    stricter = instructions.build_messages(
        item.instruction_version, **build, stricter=True,
        findings=[violation.matched or violation.term for violation in violations])
    retry = gateway.generate(item, stricter, vision=vision,
                             purpose=ModelRequestLog.Purpose.STRICTER,
                             first_attempt=answer.attempts + 1)
    again = compliance.find_violations(item.kind, retry.content, marketplace=marketplace,
                                       banned_terms=terms)
    if again:
        raise _Rejected(_explain(again), retry, [_finding(v) for v in again])
    # Passed on the stricter pass: a person must still check it before it can be approved.
    return retry.content, findings, True, retry


def _finding(violation: compliance.Violation) -> dict:
    return {"path": violation.path, "rule": violation.rule, "term": violation.term,
            "matched": violation.matched, "length": violation.length, "limit": violation.limit}


def _explain(violations: list[compliance.Violation]) -> str:
    return " ".join(str(violation.explain()) for violation in violations)[:2000]


# Endings -----------------------------------------------------------------------------------

def _succeed(item: GenerationItem, token: str, content: dict, findings: list[dict],
             flagged: bool, answer: gateway.Answer) -> Ending:
    from review.services import enter_review  # review builds on generation, not the reverse

    ending = dict(status=Status.READY, content=content, compliance_hits=findings,
                  needs_human_check=flagged, node=answer.node, error_code="", error_message="",
                  rejected_content=None, finished_at=timezone.now(), lease_expires_at=None,
                  model_attempts=answer.attempts)
    try:
        with transaction.atomic():
            quota.settle_call(item.quota_key)
            ended = GenerationItem.unscoped.filter(
                pk=item.pk, claim_token=token, status=Status.RUNNING,
            ).update(**ending)
            if not ended:
                raise _LostClaim
            for name, value in ending.items():  # what the UPDATE wrote: no re-read needed
                setattr(item, name, value)
            enter_review(item)
            GenerationJob.unscoped.filter(pk=item.job_id).update(
                items_succeeded=F("items_succeeded") + 1,
                items_flagged=F("items_flagged") + int(flagged))
    except _LostClaim:
        return Ending(Status.RUNNING)
    _after(item)
    return Ending(Status.READY)


def _fail(item: GenerationItem, token: str, code: str, message: str, *, attempts: int = 0,
          rejected: dict | None = None, findings: list[dict] | None = None) -> Ending:
    """`attempts`: the model requests this generation made (none before the quota passed)."""
    with transaction.atomic():
        ended = GenerationItem.unscoped.filter(
            pk=item.pk, claim_token=token, status=Status.RUNNING,
        ).update(status=Status.FAILED, error_code=code, error_message=message[:2000],
                 rejected_content=rejected, compliance_hits=findings or [],
                 finished_at=timezone.now(), lease_expires_at=None,
                 model_attempts=attempts)
        if not ended:
            return Ending(Status.RUNNING)
        quota.release_call(item.quota_key)  # failed calls are never charged
        GenerationJob.unscoped.filter(pk=item.job_id).update(
            items_failed=F("items_failed") + 1)
    _after(item)
    return Ending(Status.FAILED, code)


def _after(item: GenerationItem) -> None:
    from generation.dispatch import refill

    finish_job_if_done(item.job_id)
    refill(item.tenant_id)


def finish_job_if_done(job_id: int) -> bool:
    """Give a running job its final status once every item has ended (one UPDATE)."""
    done = F("items_succeeded") + F("items_failed") + F("items_cancelled")
    return bool(GenerationJob.unscoped.filter(
        pk=job_id, status__in=GenerationJob.ACTIVE_STATUSES, items_total__lte=done,
    ).update(
        status=Case(
            When(items_failed=0, then=Value(JobStatus.COMPLETED)),
            When(items_succeeded=0, then=Value(JobStatus.FAILED)),
            default=Value(JobStatus.COMPLETED_WITH_ERRORS)),
        finished_at=timezone.now()))
