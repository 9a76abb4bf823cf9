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

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.backends.signals import connection_created
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone

from billing import quota
from catalog.models import Product
from generation import compliance, gates, gateway, instructions
from generation.content import VISION_KINDS
from generation.models import (
    BannedWord,
    BrandVoice,
    GenerationItem,
    GenerationJob,
    InstructionVersion,
    ModelRequestLog,
    TenantBannedWord,
)
from generation.prechecks import main_image_url
from kernel import log_context

Status = GenerationItem.Status
JobStatus = GenerationJob.Status
logger = logging.getLogger(__name__)
# An item given back after a database failure runs again after this long.
HAND_BACK_DELAY_SECONDS = 2


class _LostClaim(Exception):
    """Another worker took the item over: this worker's ending must not count."""


@dataclass
class Ending:
    """How an item ended, for the caller (tasks, tests, the benchmark)."""

    status: str
    error_code: str = ""
    # Whether this call ended the item (not another worker), and every item of its job is
    # now ended; the tenant's next item, dispatched to this worker to run (see `run_item`).
    ended_here: bool = False
    all_ended: bool = False
    next_item_id: int | None = None


# Claim -------------------------------------------------------------------------------------

_ITEMS = GenerationItem._meta.db_table
_JOBS = GenerationJob._meta.db_table
_PRODUCTS = Product._meta.db_table
# Waiting or dispatched, or running under a lease that ran out (its worker died), and its job
# still active. Written out because every item runs it: the ORM's query building cost more
# than the claim itself.
_CLAIM = f"""
UPDATE {_ITEMS} SET status = %(running)s, claim_token = %(token)s, started_at = %(now)s,
                    lease_expires_at = %(lease)s
WHERE id = %(item)s
  AND (status IN (%(queued)s, %(dispatched)s)
       OR (status = %(running)s AND lease_expires_at < %(now)s))
  AND EXISTS (SELECT 1 FROM {_JOBS} j
              WHERE j.id = job_id AND j.status IN (%(job_queued)s, %(job_running)s))
RETURNING *"""  # noqa: S608 (table names from the models)


def claim(item_id: int) -> tuple[GenerationItem, str] | None:
    """Take the item for this worker, or None if it is not ours to run."""
    now = timezone.now()
    token = uuid.uuid4().hex
    claimed = GenerationItem.unscoped.raw(_CLAIM, {
        "running": Status.RUNNING.value, "token": token, "now": now,
        "lease": now + timedelta(seconds=settings.GENERATION_ITEM_LEASE_SECONDS),
        "item": item_id, "queued": Status.QUEUED.value, "dispatched": Status.DISPATCHED.value,
        "job_queued": JobStatus.QUEUED.value, "job_running": JobStatus.RUNNING.value})
    item = next(iter(claimed), None)  # iterated once: the UPDATE runs once
    if item is None:
        return None
    item.product = next(iter(Product.unscoped.raw(
        f"SELECT * FROM {_PRODUCTS} WHERE id = %s", [item.product_id])))  # noqa: S608
    item.job = _job(item.job_id)
    item.store = item.job.store
    item.instruction_version = _instruction_version(item.instruction_version_id)
    return item, token


# What every item of a job shares, read once per job (or version) and worker process ------

@lru_cache(maxsize=64)
def _job(job_id: int) -> GenerationJob:
    """The job with its store and the store's tenant. What the pipeline reads of them (the
    compliance mode, the store's site, the tenant's time zone) does not change while the job
    runs; the job's status is checked by the claim itself, in SQL."""
    return GenerationJob.unscoped.select_related("store__tenant").get(pk=job_id)


@lru_cache(maxsize=256)
def _instruction_version(version_id: int) -> InstructionVersion:
    return InstructionVersion.objects.get(pk=version_id)  # versions never change once made


def forget_cached_jobs() -> None:
    """Drop this process's copies of jobs, versions, banned words and brand voice (tests;
    a shell after changing a running job's store by hand)."""
    for cached in (_job, _instruction_version, _job_context):
        cached.cache_clear()


# Banned words and brand voice (read once per job and worker, not per item) ---------------

def banned_terms(tenant_id: int | None, marketplace: str, language: str) -> list[str]:
    """The ISV's list plus the tenant's own (none: the ISV's alone, as when evaluating an
    instruction version), for one marketplace and language."""
    applies = (Q(marketplace="") | Q(marketplace=marketplace)) & (Q(language="") |
                                                                   Q(language=language))
    terms = set(BannedWord.objects.filter(applies).values_list("term", flat=True))
    if tenant_id is not None:
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

def run_item(item_id: int, *, then_more_for: float = 0.0) -> Ending | None:
    """Carry one item through the pipeline. None when the item was not ours to run.

    With `then_more_for` seconds (the Celery task passes GENERATION_CONTINUE_SECONDS), the
    worker goes on with its tenant's next items itself until that time has passed: the item
    each ending dispatches is kept for this worker instead of making a round trip through
    the queue (see generation.dispatch)."""
    keep_next_until = time.monotonic() + then_more_for
    with _asynchronous_commit():
        first = ending = _run(item_id, keep_next_until)
        while ending is not None and ending.next_item_id is not None:
            ending = _run(ending.next_item_id, keep_next_until)
    return first


_pipeline_thread = threading.local()


@contextmanager
def _asynchronous_commit() -> Iterator[None]:
    """The item's commits do not wait for PostgreSQL's disk flush (a few ms each, four or
    five per item), unless GENERATION_SYNCHRONOUS_COMMIT. A server crash can lose the last
    fraction of a second of commits, each whole: a lost claim or ending leaves the item
    queued or running, and it is run again under its lease with the same quota key, so it
    still ends once and is charged once; a lost log row is a missing line in the log. See
    docs/architecture.md, "Generation".

    The setting belongs to the connection this thread holds: the thread gives it back to the
    pool during each model call (gateway), so every connection it takes again gets the
    setting too (`_on_connection`), and the pool resets it before anyone else takes it."""
    if settings.GENERATION_SYNCHRONOUS_COMMIT:
        yield
        return
    _pipeline_thread.asynchronous = True
    _set_asynchronous(connection)
    try:
        yield
    finally:
        _pipeline_thread.asynchronous = False
        if connection.connection is not None and connection.is_usable():
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")


def _set_asynchronous(wrapper) -> None:
    with wrapper.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")


@receiver(connection_created)
def _on_connection(sender, connection, **kwargs) -> None:
    if getattr(_pipeline_thread, "asynchronous", False):
        _set_asynchronous(connection)


def _run(item_id: int, keep_next_until: float) -> Ending | None:
    with log_context.bound(item_id=item_id):
        return _run_claimed(item_id, keep_next_until)


def _run_claimed(item_id: int, keep_next_until: float) -> Ending | None:
    claimed = claim(item_id)
    if claimed is None:
        return None
    item, token = claimed
    try:
        with log_context.bound(job_id=item.job_id):
            ending = _carry(item, token)
    except DatabaseError:
        _hand_back(item, token)
        raise
    if ending.ended_here:
        ending.next_item_id = _after(item, ending.all_ended,
                                     keep_next=time.monotonic() < keep_next_until)
    return ending


def _carry(item: GenerationItem, token: str) -> Ending:
    try:
        quota.reserve_call(item.store, item.quota_key)
    except quota.QuotaError as error:
        return _fail(item, token, error.code, error.message)
    try:
        content, findings, flagged, answer = _write(item)
        content, report, answer = _gate(item, content, answer)
    except gateway.ModelCallFailed as error:
        return _fail(item, token, error.code, error.message, attempts=error.attempts)
    except _Refused as refusal:
        return _fail(item, token, "ERR_CONTENT_REFUSAL", refusal.message,
                     attempts=refusal.answer.attempts, rejected=refusal.answer.content,
                     gate_findings=refusal.findings)
    except _Rejected as rejection:
        return _fail(item, token, "ERR_CONTENT_REJECTED", rejection.message,
                     attempts=rejection.attempts, rejected=rejection.content,
                     findings=rejection.findings)
    return _succeed(item, token, content, findings, flagged or bool(report.blocking), answer,
                    report)


def _hand_back(item: GenerationItem, token: str) -> None:
    """The database failed in the middle of the item (a lost connection, no free connection
    in the pool for DATABASE_POOL_TIMEOUT_SECONDS): give the item back, with a message of
    its own, so another attempt runs it soon; the quota key makes that attempt charge at most
    once. If the database cannot even take that, the item's lease runs out and housekeeping
    queues it again (dispatch.recover_stalled_items): it is never left running."""
    from generation.tasks import run_item_task  # the task module imports this one

    try:
        connection.close()  # never reuse a connection that just failed
        lease = timezone.now() + timedelta(seconds=settings.GENERATION_DISPATCH_LEASE_SECONDS)
        GenerationItem.unscoped.filter(pk=item.pk, claim_token=token, status=Status.RUNNING) \
            .update(status=Status.DISPATCHED, claim_token="", lease_expires_at=lease)
    except DatabaseError:
        logger.warning("item %s: the database is unavailable; its lease will recover it",
                       item.pk)
        return
    run_item_task.apply_async((item.tenant_id, item.pk), countdown=HAND_BACK_DELAY_SECONDS)


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
    others = {language: _job_context(item.job_id, item.tenant_id, marketplace, language)[0]
              for language in item.job.languages if language != item.language}
    build = dict(kind=item.kind, language=item.language, marketplace=marketplace,
                 product=item.product, brand_voice=voice, banned_terms=terms,
                 other_languages_banned=others, note=item.regeneration_note,
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


class _Refused(Exception):
    def __init__(self, answer: gateway.Answer, findings: list[dict]) -> None:
        self.answer, self.findings = answer, findings
        self.message = " ".join(gates.explain(finding)[0] for finding in findings)[:2000]
        super().__init__(self.message)


REGENERATION_NOTE = ("The previous answer was a refusal or held placeholders. Write the "
                     "finished text for this product, with nothing left to fill in.")


def _gate(item: GenerationItem, content: dict,
          answer: gateway.Answer) -> tuple[dict, gates.Report, gateway.Answer]:
    """The quality gates (generation.gates) on the checked content. A refusal or a
    placeholder is regenerated once (then the item fails with ERR_CONTENT_REFUSAL); the other
    findings go to review, where a person must edit or accept the text."""
    marketplace = item.store.site.marketplace
    product = instructions.product_data(item.product)
    source = gates.source_of(product)
    check = dict(language=item.language, marketplace=marketplace, product=product,
                 site=item.store.site.code, source=source,
                 target_terms=(item.job.target_terms or {}).get(item.language, ()))
    report = gates.check(item.kind, content, **check)
    if not report.needs_regeneration:
        return content, report, answer
    terms, voice = _context(item)
    vision = item.kind in VISION_KINDS
    messages = instructions.build_messages(
        item.instruction_version, kind=item.kind, language=item.language,
        marketplace=marketplace, product=item.product, brand_voice=voice, banned_terms=terms,
        note="\n".join(filter(None, (item.regeneration_note, REGENERATION_NOTE))),
        image_url=main_image_url(item.product) if vision else None)
    retry = gateway.generate(item, messages, vision=vision,
                             purpose=ModelRequestLog.Purpose.GATE,
                             first_attempt=answer.attempts + 1)
    again = gates.check(item.kind, retry.content, **check)
    violations = compliance.find_violations(item.kind, retry.content, marketplace=marketplace,
                                            banned_terms=terms)
    if again.needs_regeneration or violations:
        raise _Refused(retry, [finding.as_dict() for finding in again.findings]
                       or [_finding(violation) for violation in violations])
    return retry.content, again, retry


def _finding(violation: compliance.Violation) -> dict:
    return {"path": violation.path, "rule": violation.rule, "term": violation.term,
            "matched": violation.matched, "length": violation.length, "limit": violation.limit}


def _explain(violations: list[compliance.Violation]) -> str:
    return " ".join(str(violation.explain()) for violation in violations)[:2000]


# Endings -----------------------------------------------------------------------------------

def _succeed(item: GenerationItem, token: str, content: dict, findings: list[dict],
             flagged: bool, answer: gateway.Answer, report: gates.Report) -> Ending:
    from review.services import enter_review  # review builds on generation, not the reverse

    ending = dict(status=Status.READY, content=content, compliance_hits=findings,
                  gate_findings=[finding.as_dict() for finding in report.findings],
                  keyword_coverage=report.coverage,
                  needs_human_check=flagged, node=answer.node, error_code="", error_message="",
                  rejected_content=None, finished_at=timezone.now(), lease_expires_at=None,
                  model_attempts=answer.attempts)
    try:
        with transaction.atomic():
            ended = GenerationItem.unscoped.filter(
                pk=item.pk, claim_token=token, status=Status.RUNNING,
            ).update(**ending)
            if not ended:
                raise _LostClaim
            for name, value in ending.items():  # what the UPDATE wrote: no re-read needed
                setattr(item, name, value)
            # A first generation's ending is its only one (the claim token says so).
            enter_review(item, first_entry=item.generation == 1)
            # The job's row and the store's quota row are shared by every item: they are
            # written last, so their locks are held only until the commit right after.
            all_ended = count_endings(item.job_id, succeeded=1, flagged=int(flagged))
            quota.settle_call(item.quota_key, savepoint=False)
    except _LostClaim:
        return Ending(Status.RUNNING)
    return Ending(Status.READY, all_ended=all_ended, ended_here=True)


def _fail(item: GenerationItem, token: str, code: str, message: str, *, attempts: int = 0,
          rejected: dict | None = None, findings: list[dict] | None = None,
          gate_findings: list[dict] | None = None) -> Ending:
    """`attempts`: the model requests this generation made (none before the quota passed)."""
    with transaction.atomic():
        ended = GenerationItem.unscoped.filter(
            pk=item.pk, claim_token=token, status=Status.RUNNING,
        ).update(status=Status.FAILED, error_code=code, error_message=message[:2000],
                 rejected_content=rejected, compliance_hits=findings or [],
                 gate_findings=gate_findings or [],
                 finished_at=timezone.now(), lease_expires_at=None,
                 model_attempts=attempts)
        if not ended:
            return Ending(Status.RUNNING)
        all_ended = count_endings(item.job_id, failed=1)  # shared rows last, as in _succeed
        quota.release_call(item.quota_key, savepoint=False)  # failed calls are never charged
    return Ending(Status.FAILED, code, all_ended=all_ended, ended_here=True)


def _after(item: GenerationItem, all_ended: bool, *, keep_next: bool) -> int | None:
    """After the item's ending: tell the reviewers if the job has ended, and hand out the
    tenant's next items. Returns the one kept for this worker, if `keep_next`."""
    from generation.dispatch import refill

    if all_ended:
        from review.services import notify_reviewers_if_job_ready

        notify_reviewers_if_job_ready(item.tenant_id, item.job_id)
    dispatched = refill(item.tenant_id, keep_first=keep_next)
    return dispatched[0] if dispatched and keep_next else None


_ALL_ENDED = ("items_total <= items_succeeded + %(succeeded)s + items_failed + %(failed)s"
              " + items_cancelled")
# The job's counters and, once every item has ended, its final status, in one statement (every
# item's ending runs it). Each right-hand side sees the row as it was, hence the added deltas.
_COUNT_ENDINGS = f"""
UPDATE {_JOBS} SET
    items_succeeded = items_succeeded + %(succeeded)s, items_failed = items_failed + %(failed)s,
    items_flagged = items_flagged + %(flagged)s,
    status = CASE WHEN status IN (%(queued)s, %(running)s) AND {_ALL_ENDED}
                  THEN CASE WHEN items_failed + %(failed)s = 0 THEN %(completed)s
                            WHEN items_succeeded + %(succeeded)s = 0 THEN %(job_failed)s
                            ELSE %(with_errors)s END
                  ELSE status END,
    finished_at = CASE WHEN status IN (%(queued)s, %(running)s) AND {_ALL_ENDED}
                       THEN %(now)s ELSE finished_at END
WHERE id = %(job)s
RETURNING items_total <= items_succeeded + items_failed + items_cancelled"""  # noqa: S608


def count_endings(job_id: int, *, succeeded: int = 0, failed: int = 0,
                  flagged: int = 0) -> bool:
    """Count items that ended on their job; give a running job its final status once every
    item has ended. Returns whether every item of the job has ended (a cancelled job's too)."""
    params = {"succeeded": succeeded, "failed": failed, "flagged": flagged,
              "queued": JobStatus.QUEUED.value, "running": JobStatus.RUNNING.value,
              "completed": JobStatus.COMPLETED.value, "job_failed": JobStatus.FAILED.value,
              "with_errors": JobStatus.COMPLETED_WITH_ERRORS.value, "now": timezone.now(),
              "job": job_id}
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_ENDINGS, params)
        row = cursor.fetchone()
    return bool(row and row[0])
