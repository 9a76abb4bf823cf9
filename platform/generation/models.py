"""Generation: the model nodes and the prompt library (run by ISV staff), and the jobs, items
and model-request logs of each tenant."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.models import Product
from generation.content import LANGUAGE_CHOICES, ContentKind
from marketplaces.sites import MARKETPLACE_CHOICES
from portal.encryption import EncryptedTextField
from stores.models import Store
from tenants.scope import TenantOwnedModel

PRICE_HELP = _("CNY per million tokens.")


# Model nodes -------------------------------------------------------------------------------

class ModelNode(models.Model):
    """An OpenAI-compatible endpoint: DeepSeek's API, or a vLLM / SGLang / Ollama server."""

    class Role(models.TextChoices):
        PRIMARY = "primary", _("Primary")
        BACKUP = "backup", _("Backup")

    name = models.CharField(_("name"), max_length=100, unique=True)
    base_url = models.URLField(_("base URL"), max_length=300,
                               help_text=_("The OpenAI-compatible API root, e.g. "
                                           "https://api.deepseek.com/v1."))
    model_name = models.CharField(_("model name"), max_length=100,
                                  help_text=_("As the server names it, e.g. deepseek-chat."))
    api_key = EncryptedTextField(_("API key"), blank=True)
    supports_text = models.BooleanField(_("text"), default=True)
    supports_vision = models.BooleanField(_("vision (image input)"), default=False)
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.PRIMARY)
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=10, help_text=_("Lower is tried first within a role."))
    max_concurrency = models.PositiveIntegerField(
        _("concurrency limit"), default=8, validators=[MinValueValidator(1)],
        help_text=_("Requests in flight at once on this node, over all workers."))
    request_deadline_seconds = models.DecimalField(
        _("deadline per request (s)"), max_digits=6, decimal_places=1, default=Decimal("60"),
        validators=[MinValueValidator(Decimal("0.5"))],
        help_text=_("Hard limit for a whole request, however the server keeps it alive."))
    price_cache_hit = models.DecimalField(_("input price, cache hit"), max_digits=10,
                                          decimal_places=4, default=Decimal("0.5"),
                                          help_text=PRICE_HELP)
    price_cache_miss = models.DecimalField(_("input price, cache miss"), max_digits=10,
                                           decimal_places=4, default=Decimal("2"),
                                           help_text=PRICE_HELP)
    price_output = models.DecimalField(_("output price"), max_digits=10, decimal_places=4,
                                       default=Decimal("3"), help_text=PRICE_HELP)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("model node")
        verbose_name_plural = _("model nodes")
        ordering = ["role", "priority", "name"]

    def __str__(self) -> str:
        return self.name


# The prompt library ------------------------------------------------------------------------

class InstructionSet(models.Model):
    """The instructions for one content kind on one marketplace (optionally one category),
    kept as numbered versions."""

    kind = models.CharField(_("content kind"), max_length=30, choices=ContentKind.choices)
    marketplace = models.CharField(_("marketplace"), max_length=20, choices=MARKETPLACE_CHOICES)
    category = models.CharField(_("category"), max_length=200, blank=True,
                                help_text=_("Empty: every category without its own set."))
    name = models.CharField(_("name"), max_length=200)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("instruction set")
        verbose_name_plural = _("instruction sets")
        ordering = ["marketplace", "kind", "category"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "marketplace", "category"],
                                    name="one_instruction_set_per_kind_marketplace_category"),
        ]

    def __str__(self) -> str:
        return self.name


class InstructionVersion(models.Model):
    """One version of an instruction set. Published versions are frozen; a change is a new
    draft. Each generated item records the version that made it."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        RETIRED = "retired", _("Retired")

    instruction_set = models.ForeignKey(InstructionSet, on_delete=models.CASCADE,
                                        related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.DRAFT)
    text = models.TextField(_("instructions"))
    strict_text = models.TextField(
        _("stricter instructions"), blank=True,
        help_text=_("Added when content is regenerated in compliance mode."))
    change_note = models.CharField(_("what changed"), max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    publish_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text=_("Who asked to publish a version that scored worse than "
                                      "the published one on a gate: a second person must "
                                      "approve it."))
    publish_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("instruction version")
        verbose_name_plural = _("instruction versions")
        ordering = ["instruction_set", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["instruction_set", "number"],
                                    name="unique_instruction_version_number"),
            models.UniqueConstraint(fields=["instruction_set"],
                                    condition=models.Q(status="published"),
                                    name="one_published_version_per_instruction_set"),
        ]

    def __str__(self) -> str:
        return f"{self.instruction_set} v{self.number}"


class BrandVoice(TenantOwnedModel):
    """A tenant's notes on tone and wording, added after the instructions of every request."""

    notes = models.TextField(_("brand-voice notes"), blank=True, max_length=2000)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("brand voice")
        verbose_name_plural = _("brand voices")
        constraints = [models.UniqueConstraint(fields=["tenant"],
                                               name="one_brand_voice_per_tenant")]

    def __str__(self) -> str:
        return self.notes[:60]


# Banned words ------------------------------------------------------------------------------

class BannedWordFields(models.Model):
    marketplace = models.CharField(_("marketplace"), max_length=20, choices=MARKETPLACE_CHOICES,
                                   blank=True, help_text=_("Empty: every marketplace."))
    language = models.CharField(_("language"), max_length=5, choices=LANGUAGE_CHOICES,
                                blank=True, help_text=_("Empty: every language."))
    term = models.CharField(_("banned word or phrase"), max_length=100)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["marketplace", "language", "term"]

    def __str__(self) -> str:
        return self.term


class BannedWord(BannedWordFields):
    """The ISV's list, kept by staff: applies to every tenant."""

    class Meta(BannedWordFields.Meta):
        verbose_name = _("banned word")
        verbose_name_plural = _("banned words")
        constraints = [models.UniqueConstraint(fields=["marketplace", "language", "term"],
                                               name="unique_isv_banned_word")]


class TenantBannedWord(BannedWordFields, TenantOwnedModel):
    """A tenant's own additions to the ISV's list."""

    class Meta(BannedWordFields.Meta):
        verbose_name = _("own banned word")
        verbose_name_plural = _("own banned words")
        constraints = [models.UniqueConstraint(fields=["tenant", "marketplace", "language", "term"],
                                               name="unique_tenant_banned_word")]


# Jobs and items ----------------------------------------------------------------------------

class GenerationJob(TenantOwnedModel):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        COMPLETED_WITH_ERRORS = "completed_with_errors", _("Completed with errors")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="generation_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    kinds = models.JSONField(_("content kinds"), default=list)
    languages = models.JSONField(_("languages"), default=list)
    compliance_mode = models.BooleanField(
        _("compliance mode"), default=False,
        help_text=_("Content that hits a banned word is regenerated once with stricter "
                    "instructions and then needs a person's check."))
    target_terms = models.JSONField(
        _("target search terms"), default=dict, blank=True,
        help_text=_("Per language, the search terms the seller wants the text to name."))
    selection = models.JSONField(_("selection"), default=dict, blank=True,
                                 help_text=_("How the SKUs were chosen (filter or list)."))
    status = models.CharField(_("status"), max_length=30, choices=Status.choices,
                              default=Status.QUEUED)
    items_total = models.PositiveIntegerField(_("items"), default=0)
    items_succeeded = models.PositiveIntegerField(_("ready for review"), default=0)
    items_failed = models.PositiveIntegerField(_("failed"), default=0)
    items_cancelled = models.PositiveIntegerField(_("cancelled"), default=0)
    items_flagged = models.PositiveIntegerField(_("flagged for a compliance check"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    retry_scheduled_for = models.DateTimeField(
        _("failed items retried at"), null=True, blank=True,
        help_text=_("The quota reset after which the failed items are run again, as the "
                    "seller asked when today's quota could not take them."))
    retry_scheduled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                           on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("generation job")
        verbose_name_plural = _("generation jobs")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "status"], name="genjob_tenant_status"),
                   models.Index(fields=["store", "-created_at"], name="genjob_store_latest")]

    def __str__(self) -> str:
        return f"#{self.pk}"

    @property
    def items_done(self) -> int:
        return self.items_succeeded + self.items_failed + self.items_cancelled

    @property
    def progress_percent(self) -> int:
        if not self.items_total:
            return 100 if self.status not in self.ACTIVE_STATUSES else 0
        return min(100, self.items_done * 100 // self.items_total)

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class GenerationItem(TenantOwnedModel):
    """One SKU x language x content kind: the metered unit, "one AI call"."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        DISPATCHED = "dispatched", _("Waiting for a worker")
        RUNNING = "running", _("Running")
        READY = "ready", _("Ready for review")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    IN_FLIGHT = (Status.DISPATCHED, Status.RUNNING)
    FINAL = (Status.READY, Status.FAILED, Status.CANCELLED)

    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="items")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("content kind"), max_length=30, choices=ContentKind.choices)
    language = models.CharField(_("language"), max_length=5, choices=LANGUAGE_CHOICES)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices,
                              default=Status.QUEUED)
    generation = models.PositiveSmallIntegerField(
        default=1, help_text=_("How many times this item has been generated (regeneration "
                               "after review starts a new one, metered again)."))
    instruction_version = models.ForeignKey(InstructionVersion, null=True, blank=True,
                                            on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey(ModelNode, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+", help_text=_("The node that wrote the content."))
    content = models.JSONField(_("content"), null=True, blank=True)
    rejected_content = models.JSONField(
        null=True, blank=True, help_text=_("The last answer the compliance filter refused."))
    compliance_hits = models.JSONField(_("compliance findings"), default=list, blank=True)
    needs_human_check = models.BooleanField(
        _("needs a compliance check"), default=False,
        help_text=_("Regenerated in compliance mode: a person must check it."))
    gate_findings = models.JSONField(
        _("quality-gate findings"), default=list, blank=True,
        help_text=_("Wrong language, facts the product data does not support, marketplace "
                    "limits (generation.gates): a person must edit or accept the text."))
    keyword_coverage = models.JSONField(_("keyword coverage"), default=dict, blank=True)
    regeneration_note = models.TextField(_("note for regeneration"), blank=True)
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    error_message = models.TextField(_("error"), blank=True)
    model_attempts = models.PositiveSmallIntegerField(default=0)
    claim_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("generation item")
        verbose_name_plural = _("generation items")
        ordering = ["job", "id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "product", "kind", "language"],
                                    name="one_item_per_job_product_kind_language"),
        ]
        indexes = [
            models.Index(fields=["job", "status"], name="genitem_job_status"),
            models.Index(fields=["tenant", "status", "job", "id"], name="genitem_dispatch"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} {self.kind} {self.language}"

    @property
    def quota_key(self) -> str:
        """The key of this generation's quota reservation and ledger row."""
        return f"gen:{self.pk}:{self.generation}"


class ModelRequestLog(TenantOwnedModel):
    """One request to a model node: what it cost and how it ended. Written for every attempt,
    successful or not."""

    class Purpose(models.TextChoices):
        GENERATE = "generate", _("Generate")
        STRICTER = "stricter", _("Regenerate (compliance)")
        GATE = "gate", _("Regenerate (refusal or placeholder)")

    store = models.ForeignKey(Store, null=True, on_delete=models.SET_NULL, related_name="+")
    job = models.ForeignKey(GenerationJob, null=True, on_delete=models.SET_NULL, related_name="+")
    item = models.ForeignKey(GenerationItem, null=True, on_delete=models.SET_NULL,
                             related_name="requests")
    node = models.ForeignKey(ModelNode, null=True, on_delete=models.SET_NULL, related_name="+")
    node_name = models.CharField(_("node"), max_length=100)
    attempt = models.PositiveSmallIntegerField(_("attempt"))
    purpose = models.CharField(_("purpose"), max_length=10, choices=Purpose.choices,
                               default=Purpose.GENERATE)
    started_at = models.DateTimeField(_("started"), db_index=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"))
    prompt_tokens = models.PositiveIntegerField(_("prompt tokens"), default=0)
    completion_tokens = models.PositiveIntegerField(_("completion tokens"), default=0)
    cache_hit_tokens = models.PositiveIntegerField(_("cache-hit tokens"), default=0)
    cost = models.DecimalField(_("cost (CNY)"), max_digits=14, decimal_places=6,
                               default=Decimal("0"))
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    error_message = models.TextField(_("error"), blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    provider_request_id = models.CharField(_("provider request ID"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("model request")
        verbose_name_plural = _("model requests")
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-started_at"], name="modellog_tenant_time"),
            models.Index(fields=["store", "-started_at"], name="modellog_store_time"),
            models.Index(fields=["error_code", "-started_at"], name="modellog_error_time"),
            models.Index(fields=["node", "-started_at"], name="modellog_node_time"),
            models.Index(fields=["job"], name="modellog_job"),
        ]

    def __str__(self) -> str:
        return f"{self.node_name} {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def cost_per_thousand(self) -> Decimal:
        """A single request costs fractions of a fen: shown for 1,000 of them."""
        return self.cost * 1000


# Evaluating instruction versions before they ship ------------------------------------------

class EvaluationSet(models.Model):
    """A named list of SKUs to run instruction versions against: product data copied from any
    store (or written as JSON), each optionally with reference texts per language."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    cases = models.JSONField(
        _("cases"), default=list,
        help_text=_('A list of {"sku": ..., "product": {"title", "category", "attributes", '
                    '"parameters"}, "references": {"en": "..."}}.'))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("evaluation set")
        verbose_name_plural = _("evaluation sets")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EvaluationRun(models.Model):
    """One instruction version run against one evaluation set through the model nodes, outside
    any tenant (no quota, no usage, no request log of a tenant): its results per item and
    their summary (generation.evaluation)."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    version = models.ForeignKey(InstructionVersion, on_delete=models.CASCADE,
                                related_name="evaluation_runs")
    evaluation_set = models.ForeignKey(EvaluationSet, on_delete=models.CASCADE,
                                       related_name="runs")
    languages = models.JSONField(_("languages"), default=list)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.RUNNING)
    writer_node = models.CharField(_("writer node"), max_length=100, blank=True)
    judge_node = models.CharField(_("judge node"), max_length=100, blank=True)
    results = models.JSONField(_("results"), default=list, blank=True)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    error_message = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("evaluation run")
        verbose_name_plural = _("evaluation runs")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.version} on {self.evaluation_set}"
