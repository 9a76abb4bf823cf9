"""Starting, estimating, cancelling and re-running generation jobs (called by views, the API
and review). The per-item work is in generation.pipeline; dispatching in generation.dispatch.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.services import record
from billing import quota
from billing.models import StoreSubscription
from catalog.models import Product
from catalog.selectors import ProductFilters
from catalog.selectors import products as product_search
from generation import instructions
from generation.content import ContentKind
from generation.dispatch import refill
from generation.models import GenerationItem, GenerationJob
from generation.pipeline import count_endings
from generation.prechecks import input_problem
from marketplaces.sites import MARKETPLACE_LANGUAGES, MARKETPLACE_NAMES
from stores.models import Store
from tenants.models import User
from tenants.scope import tenant_scope

logger = logging.getLogger(__name__)

MAX_ITEMS_PER_JOB = 50_000
ItemStatus = GenerationItem.Status


class JobError(Exception):
    """A job that cannot start or change, with a message for the seller. `details` are
    machine-readable facts for the API's error body (besides the field's message)."""

    def __init__(self, message: str, *, code: str = "job_error", field: str = "",
                 details: dict | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.field = message, code, field
        self.details = details or {}


# Choosing SKUs -----------------------------------------------------------------------------

NO_SKUS_CHOSEN = "no_skus_chosen"
TOO_MANY_SKUS = "too_many_skus"


@dataclass(frozen=True)
class Selection:
    """Which SKUs of the store: an explicit list of product ids, a catalog filter, or every
    SKU of the store, asked for explicitly (`whole_store`). An empty selection chooses
    nothing: never "all"."""

    product_ids: tuple[int, ...] = ()
    filters: ProductFilters = field(default_factory=ProductFilters)
    whole_store: bool = False

    @property
    def chosen(self) -> bool:
        return bool(self.product_ids) or self.filters.active or self.whole_store

    def products(self, store: Store) -> QuerySet[Product]:
        chosen = Product.objects.filter(store=store)
        if self.product_ids:
            return chosen.filter(pk__in=self.product_ids).order_by("marketplace_id")
        if not self.chosen:
            return chosen.none()
        return product_search(ProductFilters(q=self.filters.q, store_id=store.pk,
                                             category=self.filters.category,
                                             flag=self.filters.flag))

    def as_json(self) -> dict:
        if self.product_ids:
            return {"product_ids": list(self.product_ids)}
        if not self.filters.active:
            return {"all": True}
        return {"filter": {"q": self.filters.q, "category": self.filters.category,
                           "flag": self.filters.flag}}


def nothing_chosen() -> JobError:
    return JobError(_("Choose at least one SKU: pick SKUs, set a filter, or choose every SKU "
                      "of the store."), code=NO_SKUS_CHOSEN, field="product_ids")


def choose_skus(*, product_ids: Sequence[int] | None = None, q: str = "", category: str = "",
                flag: str = "", whole_store: bool = False) -> Selection:
    """The Selection the seller asked for. `product_ids` given but empty is an error (never
    "every SKU"); so is asking for nothing at all. A list wins over a filter."""
    if product_ids is not None:
        if not product_ids:
            raise JobError(_("Choose at least one SKU."), code=NO_SKUS_CHOSEN,
                           field="product_ids")
        if whole_store:
            raise JobError(_("Give either a list of SKUs or “every SKU of the store”, not "
                             "both."), code="ambiguous_selection", field="all")
        return Selection(product_ids=tuple(dict.fromkeys(product_ids)))
    filters = ProductFilters(q=q.strip(), category=category.strip(), flag=flag)
    if not filters.active and not whole_store:
        raise nothing_chosen()
    return Selection(filters=filters, whole_store=not filters.active)


def _sku_limit_problem(selection: Selection, skus: int,
                       subscription: StoreSubscription | None) -> str:
    """Why the selection has more SKUs than the store's pack covers ("" if it has not): the
    pack version's SKU limit, the one that is priced, bounds every job and every list."""
    if subscription is None:
        return ""
    limit = subscription.pack_version.sku_limit
    count = max(skus, len(selection.product_ids))
    if count <= limit:
        return ""
    return (_("A job may cover at most %(limit)s SKUs, the SKU limit of the store's pack "
              "%(pack)s; this one has %(count)s. Choose fewer SKUs.")
            % {"limit": f"{limit:,}", "pack": subscription.pack_version, "count": f"{count:,}"})


# The estimate shown before starting --------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    skus: int
    items: int
    input_problems: dict[str, int]  # error code -> items that will fail their pre-check
    calls: int  # items that will reach the model: the AI calls the job uses
    included_left: int
    overage_calls: int
    overage_price: Decimal
    calls_over_cap: int  # calls that will fail with ERR_QUOTA_EXCEEDED today
    resets_at: datetime
    unusable_reason: str = ""

    @property
    def overage_cost(self) -> Decimal:
        return (self.overage_calls * self.overage_price).quantize(Decimal("0.01"))

    @property
    def can_start(self) -> bool:
        return not self.unusable_reason and self.items > 0


def _validate(store: Store, kinds: list[str], languages: list[str]) -> None:
    if not kinds:
        raise JobError(_("Choose at least one content kind."), field="kinds")
    unknown = set(kinds) - set(ContentKind.values)
    if unknown:
        raise JobError(_("Unknown content kind: %(kinds)s.") % {"kinds": ", ".join(unknown)},
                       field="kinds")
    if not languages:
        raise JobError(_("Choose at least one language."), field="languages")
    allowed = MARKETPLACE_LANGUAGES[store.site.marketplace]
    unsupported = [code for code in languages if code not in allowed]
    if unsupported:
        raise JobError(
            _("%(marketplace)s does not take content in: %(languages)s. Its languages are "
              "%(allowed)s.") % {"marketplace": MARKETPLACE_NAMES[store.site.marketplace],
                                 "languages": ", ".join(unsupported),
                                 "allowed": ", ".join(allowed)},
            field="languages")


def _size_problem(skus: int, kinds: list[str], languages: list[str]) -> str:
    """Why a job of these SKUs, kinds and languages is too big to start ("" if it is not):
    counted before any item is built, so the estimate and the start refuse alike."""
    count = skus * len(kinds) * len(languages)
    if count <= MAX_ITEMS_PER_JOB:
        return ""
    return (_("A job may have at most %(max)s items; this one would have %(count)s. Choose "
              "fewer SKUs, kinds or languages.")
            % {"max": f"{MAX_ITEMS_PER_JOB:,}", "count": f"{count:,}"})


def estimate_job(store: Store, selection: Selection, kinds: list[str],
                 languages: list[str]) -> Estimate:
    """How many AI calls the job will use and what they cost against today's quota."""
    _validate(store, kinds, languages)
    if not selection.chosen:
        raise nothing_chosen()
    problems: Counter[str] = Counter()
    skus = 0
    for product in (selection.products(store).select_related(None)
                    .only("pk", "quality_flags").iterator(2000)):
        skus += 1
        for kind in kinds:
            problem = input_problem(product, kind)
            if problem:
                problems[problem] += len(languages)
    items = skus * len(kinds) * len(languages)
    calls = items - sum(problems.values())
    usage = quota.usage_today(store)
    left = usage.calls_left
    within = calls if left is None else min(calls, left)
    subscription = usage.subscription
    return Estimate(
        skus=skus, items=items, input_problems=dict(problems), calls=calls,
        included_left=usage.included_left,
        overage_calls=max(0, within - usage.included_left),
        overage_price=(subscription.pack_version.overage_price_per_call if subscription
                       else Decimal("0")),
        calls_over_cap=calls - within, resets_at=usage.resets_at,
        unusable_reason=(usage.unusable_reason or _sku_limit_problem(selection, skus, subscription)
                         or _size_problem(skus, kinds, languages)))


# Start, cancel, re-run ---------------------------------------------------------------------

MAX_TARGET_TERMS = 50


def target_terms_by_language(terms: dict[str, list[str]] | None,
                             languages: list[str]) -> dict[str, list[str]]:
    """The seller's target search terms per job language (generation.gates' keyword
    coverage): trimmed, without duplicates, at most MAX_TARGET_TERMS a language."""
    cleaned = {}
    for language, found in (terms or {}).items():
        if language not in languages:
            continue
        kept = list(dict.fromkeys(str(term).strip()[:100] for term in found if str(term).strip()))
        if kept:
            cleaned[language] = kept[:MAX_TARGET_TERMS]
    return cleaned


def start_job(*, store: Store, selection: Selection, kinds: list[str], languages: list[str],
              compliance_mode: bool, by: User,
              target_terms: dict[str, list[str]] | None = None) -> GenerationJob:
    """Create the job and its items (one per SKU x language x kind) and start dispatching.
    Items whose input fails a pre-check end at once, with what to fix: no quota is used.
    `target_terms`: per language, the search terms the text should name (shown in review)."""
    _validate(store, kinds, languages)
    if not selection.chosen:
        raise nothing_chosen()
    usage = quota.usage_today(store)
    if usage.subscription is None:
        raise JobError(usage.unusable_reason, code="ERR_NO_SUBSCRIPTION")
    too_many = _sku_limit_problem(selection, 0, usage.subscription)  # the list alone
    if too_many:
        raise JobError(too_many, code=TOO_MANY_SKUS, field="product_ids")
    instructions.ensure_default_library()
    kinds = [kind for kind in ContentKind.values if kind in kinds]  # stable order
    skus = selection.products(store).count()
    if not skus:
        raise JobError(_("No SKUs match the selection."), field="selection")
    too_many = _sku_limit_problem(selection, skus, usage.subscription)
    if too_many:
        raise JobError(too_many, code=TOO_MANY_SKUS, field="product_ids")
    too_big = _size_problem(skus, kinds, languages)
    if too_big:
        raise JobError(too_big, field="selection")
    versions: dict[tuple[str, str], object] = {}
    marketplace = store.site.marketplace
    with transaction.atomic():
        job = GenerationJob.objects.create(
            store=store, created_by=by, kinds=kinds, languages=list(languages),
            compliance_mode=compliance_mode, selection=selection.as_json(),
            target_terms=target_terms_by_language(target_terms, list(languages)))
        now = timezone.now()
        items = []
        for product in selection.products(store).iterator(2000):
            for kind in kinds:
                key = (kind, product.category)
                if key not in versions:
                    versions[key] = instructions.published_version(kind, marketplace,
                                                                   product.category)
                problem = input_problem(product, kind)
                for language in languages:
                    items.append(GenerationItem(
                        tenant_id=store.tenant_id, job=job, store=store, product=product,
                        kind=kind, language=language, instruction_version=versions[key],
                        status=ItemStatus.FAILED if problem else ItemStatus.QUEUED,
                        error_code=problem, finished_at=now if problem else None))
        if not items:  # the SKUs were deleted meanwhile
            raise JobError(_("No SKUs match the selection."), field="selection")
        missing = sorted({kind for (kind, _c), version in versions.items() if version is None})
        if missing:
            raise JobError(_("No published instructions for: %(kinds)s. Ask ISV staff to "
                             "publish them.") % {"kinds": ", ".join(missing)}, field="kinds")
        GenerationItem.unscoped.bulk_create(items, batch_size=2000)
        failed = sum(1 for item in items if item.status == ItemStatus.FAILED)
        GenerationJob.unscoped.filter(pk=job.pk).update(items_total=len(items),
                                                         items_failed=failed)
        record(AuditEvent.Action.JOB_STARTED, tenant=store.tenant, actor=by,
               target=f"job #{job.pk}",
               details={"store": store.pk, "items": len(items), "kinds": kinds,
                        "languages": list(languages), "compliance_mode": compliance_mode})
        tenant_id = store.tenant_id
        transaction.on_commit(lambda: _kick_off(tenant_id, job.pk))
    job.refresh_from_db()
    return job


def _kick_off(tenant_id: int, job_id: int) -> None:
    count_endings(job_id)  # every item may have failed its pre-check
    refill(tenant_id)


def cancel_job(job: GenerationJob, *, by: User) -> int:
    """Stop the rest: items not yet running are cancelled; running ones finish. Returns how
    many items were cancelled."""
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if not locked.is_active:
            raise JobError(_("The job has already ended."), code="job_ended")
        cancelled = GenerationItem.objects.filter(
            job=locked, status__in=(ItemStatus.QUEUED, ItemStatus.DISPATCHED),
        ).update(status=ItemStatus.CANCELLED, finished_at=timezone.now(),
                 lease_expires_at=None)
        GenerationJob.objects.filter(pk=locked.pk).update(
            status=GenerationJob.Status.CANCELLED, cancelled_by=by, finished_at=timezone.now(),
            items_cancelled=F("items_cancelled") + cancelled)
        record(AuditEvent.Action.JOB_CANCELLED, tenant=locked.tenant, actor=by,
               target=f"job #{locked.pk}", details={"cancelled_items": cancelled})
    job.refresh_from_db()
    return cancelled


def request_regeneration(item: GenerationItem, *, note: str, by: User) -> GenerationItem:
    """Generate the item again (review sent it back): a new generation, metered again, with
    the reviewer's note in the request. The job runs again until the item has ended."""
    with transaction.atomic():
        locked = GenerationItem.objects.select_for_update().get(pk=item.pk)
        if locked.status not in (ItemStatus.READY, ItemStatus.FAILED):
            raise JobError(_("Only an item that is ready or failed can be generated again."),
                           code="item_not_ended")
        was_ready = locked.status == ItemStatus.READY
        GenerationItem.objects.filter(pk=locked.pk).update(
            status=ItemStatus.QUEUED, generation=F("generation") + 1,
            regeneration_note=note.strip()[:2000], content=None, rejected_content=None,
            compliance_hits=[], needs_human_check=False, error_code="", error_message="",
            claim_token="", lease_expires_at=None, started_at=None, finished_at=None)
        counters = ({"items_succeeded": F("items_succeeded") - 1} if was_ready
                    else {"items_failed": F("items_failed") - 1})
        if was_ready and locked.needs_human_check:  # counted as flagged when it succeeded
            counters["items_flagged"] = F("items_flagged") - 1
        GenerationJob.objects.filter(pk=locked.job_id).update(
            status=GenerationJob.Status.RUNNING, finished_at=None, **counters)
        record(AuditEvent.Action.ITEM_REGENERATED, tenant=locked.tenant, actor=by,
               target=f"item #{locked.pk}", details={"note": note[:500]})
        tenant_id = locked.tenant_id
        transaction.on_commit(lambda: refill(tenant_id))
    item.refresh_from_db()
    return item


# Retrying failed items ---------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPlan:
    """What "retry failed items" would do now: of the retryable items (their input passes
    its pre-check), how many today's quota takes and how many would fail again for quota
    (ERR_QUOTA_EXCEEDED) until it resets at `resets_at` (the tenant's next local midnight)."""

    failed: int
    retryable: int
    fit_today: int
    over_quota: int
    resets_at: datetime
    scheduled_for: datetime | None
    unusable_reason: str = ""

    @property
    def input_problems(self) -> int:
        return self.failed - self.retryable


@dataclass(frozen=True)
class RetryResult:
    started: int  # run again now
    over_quota: int  # left failed for today's quota (scheduled when scheduled_for is set)
    resets_at: datetime
    scheduled_for: datetime | None


def _retryable(job: GenerationJob) -> tuple[int, list[int]]:
    """The job's failed items and, oldest first, the ids of those whose input passes."""
    failed = list(GenerationItem.objects.filter(job=job, status=ItemStatus.FAILED)
                  .select_related("product").order_by("id"))
    return len(failed), [item.pk for item in failed if not input_problem(item.product,
                                                                           item.kind)]


def _room_today(usage: quota.StoreUsageToday, wanted: int) -> int:
    if usage.subscription is None:
        return 0
    left = usage.calls_left
    return wanted if left is None else min(wanted, left)


def plan_retry(job: GenerationJob) -> RetryPlan:
    failed, retryable = _retryable(job)
    usage = quota.usage_today(job.store)
    fit = _room_today(usage, len(retryable))
    return RetryPlan(failed=failed, retryable=len(retryable), fit_today=fit,
                     over_quota=len(retryable) - fit if usage.subscription else 0,
                     resets_at=usage.resets_at, scheduled_for=job.retry_scheduled_for,
                     unusable_reason=usage.unusable_reason)


def _quota_used_up(job: GenerationJob, count: int, resets_at: datetime) -> JobError:
    tenant = job.store.tenant
    local = timezone.localtime(resets_at, tenant.zone)
    return JobError(
        _("Today's quota of store %(store)s is used up: all %(count)s failed items would fail "
          "again. Run them after the quota resets at %(time)s (%(zone)s).")
        % {"store": job.store.display_name, "count": count,
           "time": local.strftime("%Y-%m-%d %H:%M"), "zone": tenant.time_zone},
        code="ERR_QUOTA_EXCEEDED",
        details={"would_fail_for_quota": count, "resets_at": resets_at.isoformat(),
                 "retry_after_reset": True})


def retry_failed_items(job: GenerationJob, *, by: User, after_reset: bool = False
                       ) -> RetryResult:
    """After the fix (new node, completed parameters, raised cap...): run the job's failed
    items again as a new generation each. Input problems are checked again first.

    Only as many as today's quota takes run now (the oldest first): the others would fail
    again at once for quota. With `after_reset` they are run after the quota resets (the
    tenant's next local midnight, by `run_scheduled_retries`); without, they stay failed,
    and when none fits today the retry is refused with when the quota resets."""
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().select_related("store__tenant").get(
            pk=job.pk)
        if locked.is_active:
            raise JobError(_("The job is still running."), code="job_running")
        _failed, retry = _retryable(locked)
        if not retry:
            raise JobError(_("No failed item can be retried: fix the inputs first."),
                           code="nothing_to_retry")
        usage = quota.usage_today(locked.store)
        if usage.subscription is None:
            raise JobError(usage.unusable_reason, code="ERR_NO_SUBSCRIPTION")
        now_ids = retry[:_room_today(usage, len(retry))]
        over_quota = len(retry) - len(now_ids)
        if not now_ids and not after_reset:
            raise _quota_used_up(locked, over_quota, usage.resets_at)
        scheduled_for = usage.resets_at if over_quota and after_reset else None
        GenerationItem.objects.filter(pk__in=now_ids).update(
            status=ItemStatus.QUEUED, generation=F("generation") + 1, error_code="",
            error_message="", rejected_content=None, compliance_hits=[], claim_token="",
            lease_expires_at=None, started_at=None, finished_at=None)
        changes: dict = {"retry_scheduled_for": scheduled_for,
                         "retry_scheduled_by": by if scheduled_for else None}
        if now_ids:
            changes.update(status=GenerationJob.Status.RUNNING, finished_at=None,
                           items_failed=F("items_failed") - len(now_ids))
        GenerationJob.objects.filter(pk=locked.pk).update(**changes)
        record(AuditEvent.Action.JOB_RETRIED, tenant=locked.tenant, actor=by,
               target=f"job #{locked.pk}",
               details={"items": len(now_ids), "over_quota": over_quota,
                        "after_reset": scheduled_for.isoformat() if scheduled_for else None})
        tenant_id = locked.tenant_id
        if now_ids:
            transaction.on_commit(lambda: refill(tenant_id))
    job.refresh_from_db()
    return RetryResult(started=len(now_ids), over_quota=over_quota, resets_at=usage.resets_at,
                       scheduled_for=scheduled_for)


def run_scheduled_retries(now: datetime | None = None) -> int:
    """Housekeeping (every minute): for every tenant, retry the failed items of ended jobs
    whose retry was asked for after a quota reset that has now passed. Each runs once: what
    today's quota still cannot take stays failed. Returns how many items were started."""
    now = now or timezone.now()
    # Crossing tenants on purpose: this job looks after every tenant's retries.
    due = (GenerationJob.unscoped.select_related("tenant", "created_by", "retry_scheduled_by")
           .filter(retry_scheduled_for__lte=now)
           .exclude(status__in=GenerationJob.ACTIVE_STATUSES).order_by("retry_scheduled_for"))
    started = 0
    for job in due:
        with tenant_scope(job.tenant):
            by = job.retry_scheduled_by or job.created_by
            GenerationJob.objects.filter(pk=job.pk).update(retry_scheduled_for=None,
                                                           retry_scheduled_by=None)
            try:
                started += retry_failed_items(job, by=by).started
            except JobError as error:  # fixed meanwhile, or the quota is used up again
                logger.info("Scheduled retry of job %s not run: %s", job.pk, error.code)
    return started
