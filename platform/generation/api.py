"""API: the tenant's generation jobs (list, detail, create, estimate, cancel, retry failed
items) and their items. A JobError answers 400 with the project's error body
{code, message, details}; details names the field when there is one."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from catalog import selectors as catalog_selectors
from catalog.models import QualityFlag
from generation import gates, services
from generation.content import LANGUAGE_NAMES, ContentKind, as_plain_text
from generation.models import GenerationItem, GenerationJob
from portal.api import Pagination, error_body
from portal.error_codes import as_json
from portal.limits import MAX_ID, MAX_IDS
from portal.schema import ErrorBodySerializer
from tenants.api import TenantScopedViewSet
from tenants.permissions import IsTenantMember, requires
from tenants.roles import KeyScope, TenantPermission


class JobSerializer(serializers.ModelSerializer):
    store = serializers.PrimaryKeyRelatedField(read_only=True)
    created_by = serializers.EmailField(source="created_by.email", read_only=True)
    cancelled_by = serializers.EmailField(source="cancelled_by.email", read_only=True,
                                          allow_null=True, default=None)
    items_done = serializers.IntegerField(read_only=True)
    progress_percent = serializers.IntegerField(read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = GenerationJob
        fields = ["id", "store", "status", "kinds", "languages", "compliance_mode", "target_terms",
                  "selection",
                  "items_total", "items_succeeded", "items_failed", "items_cancelled",
                  "items_flagged", "items_done", "progress_percent", "is_active", "created_by",
                  "created_at", "started_at", "finished_at", "cancelled_by",
                  "retry_scheduled_for"]
        read_only_fields = fields


class ErrorCodeSerializer(serializers.Serializer):
    code = serializers.CharField()
    meaning = serializers.CharField()
    remedy = serializers.CharField()


class GateFindingSerializer(serializers.Serializer):
    gate = serializers.ChoiceField(choices=["language", "fact", "refusal", "placeholder",
                                            "limit"])
    path = serializers.CharField()
    found = serializers.CharField()
    expected = serializers.CharField()
    meaning = serializers.CharField()
    remedy = serializers.CharField()


class ItemSerializer(serializers.ModelSerializer):
    job = serializers.PrimaryKeyRelatedField(read_only=True)
    store = serializers.PrimaryKeyRelatedField(read_only=True)
    product = serializers.PrimaryKeyRelatedField(read_only=True)
    sku = serializers.CharField(source="product.sku", read_only=True)
    node = serializers.CharField(source="node.name", read_only=True, allow_null=True,
                                 default=None)
    instruction_version = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    plain_text = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    gate_findings = serializers.SerializerMethodField()

    class Meta:
        model = GenerationItem
        fields = ["id", "job", "store", "product", "sku", "kind", "language", "status",
                  "generation", "content", "plain_text", "compliance_hits", "gate_findings",
                  "keyword_coverage", "needs_human_check",
                  "error_code", "error", "error_message", "node", "instruction_version",
                  "model_attempts", "created_at", "started_at", "finished_at"]
        read_only_fields = fields

    def get_plain_text(self, item: GenerationItem) -> str:
        return as_plain_text(item.kind, item.content) if item.content else ""

    @extend_schema_field(ErrorCodeSerializer(allow_null=True))
    def get_error(self, item: GenerationItem) -> dict | None:
        return as_json(item.error_code) if item.error_code else None

    @extend_schema_field(GateFindingSerializer(many=True))
    def get_gate_findings(self, item: GenerationItem) -> list[dict]:
        """The quality gates' findings, each with its meaning and remedy in the user's
        language (generation.gates)."""
        return gates.explained(item.gate_findings)


class JobRequestSerializer(serializers.Serializer):
    """What a job is made of: a store, SKUs (product_ids, or a catalog filter q / category /
    flag, or "all": true for every SKU of the store; an empty list or nothing at all is an
    error, never "all"), kinds, languages, compliance mode. No job covers more SKUs than the
    SKU limit of the store's pack."""

    store = serializers.IntegerField(min_value=1, max_value=MAX_ID,
                                     help_text=_("ID of the store."))
    product_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False,
        max_length=MAX_IDS,
        help_text=_("Explicit SKUs (product IDs), at least one and at most the pack's SKU "
                    "limit; overrides the filter."))
    all = serializers.BooleanField(
        required=False, default=False,
        help_text=_("Every SKU of the store (at most the pack's SKU limit). Needed to ask for "
                    "the whole store: without product_ids, a filter or this, nothing is "
                    "chosen."))
    q = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    category = serializers.CharField(required=False, allow_blank=True, default="",
                                     max_length=200)
    flag = serializers.ChoiceField(choices=QualityFlag.choices, required=False,
                                   allow_blank=True, default="")
    kinds = serializers.ListField(child=serializers.ChoiceField(ContentKind.choices),
                                  max_length=len(ContentKind))
    languages = serializers.ListField(
        child=serializers.ChoiceField(list(LANGUAGE_NAMES.items())),
        max_length=len(LANGUAGE_NAMES))
    compliance_mode = serializers.BooleanField(required=False, default=True)
    target_terms = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField(max_length=100),
                                    max_length=50),
        required=False, default=dict,
        help_text=_("Per language code, the search terms the text should name: their "
                    "coverage is scored and shown in review."))


class InputProblemSerializer(ErrorCodeSerializer):
    items = serializers.IntegerField()


class EstimateSerializer(serializers.Serializer):
    skus = serializers.IntegerField()
    items = serializers.IntegerField()
    calls = serializers.IntegerField(help_text=_("AI calls the job will use."))
    input_problems = InputProblemSerializer(many=True)
    included_left = serializers.IntegerField()
    overage_calls = serializers.IntegerField()
    overage_price = serializers.DecimalField(max_digits=10, decimal_places=2)
    overage_cost = serializers.DecimalField(max_digits=14, decimal_places=2)
    calls_over_cap = serializers.IntegerField()
    resets_at = serializers.DateTimeField()
    can_start = serializers.BooleanField()
    unusable_reason = serializers.CharField(allow_blank=True)


class RetryPlanSerializer(serializers.Serializer):
    failed = serializers.IntegerField(help_text=_("Failed items of the job."))
    retryable = serializers.IntegerField(help_text=_("Failed items whose input passes now."))
    input_problems = serializers.IntegerField()
    fit_today = serializers.IntegerField(help_text=_("Items today's quota takes."))
    over_quota = serializers.IntegerField(
        help_text=_("Items that would fail again for today's quota (ERR_QUOTA_EXCEEDED)."))
    resets_at = serializers.DateTimeField(
        help_text=_("When the quota resets: the tenant's next local midnight."))
    scheduled_for = serializers.DateTimeField(allow_null=True)
    unusable_reason = serializers.CharField(allow_blank=True)


class RetryRequestSerializer(serializers.Serializer):
    after_reset = serializers.BooleanField(
        required=False, default=False,
        help_text=_("Run the items today's quota cannot take after it resets (else they stay "
                    "failed). The others run now."))


class RetryResultSerializer(serializers.Serializer):
    started = serializers.IntegerField()
    over_quota = serializers.IntegerField()
    resets_at = serializers.DateTimeField()
    scheduled_for = serializers.DateTimeField(allow_null=True)


class RetriedJobSerializer(JobSerializer):
    retry = RetryResultSerializer(read_only=True)

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "retry"]
        read_only_fields = fields


class NoSuchStore(exceptions.NotFound):
    default_code = "store_not_found"
    default_detail = _("No such store: give the ID of one of your stores.")


def _error(error: services.JobError) -> Response:
    details = {error.field: [error.message]} if error.field else {}
    details.update(error.details)
    return Response(error_body(error.code, error.message, details),
                    status=status.HTTP_400_BAD_REQUEST)


def _parse(request: Request):
    """The store, the selection and the rest of the request; JobError for a selection that
    chooses nothing."""
    payload = JobRequestSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    data = payload.validated_data
    store = catalog_selectors.stores().filter(pk=data["store"]).first()
    if store is None:  # not one of the tenant's stores
        raise NoSuchStore
    selection = services.choose_skus(product_ids=data.get("product_ids"), q=data["q"],
                                     category=data["category"], flag=data["flag"],
                                     whole_store=data["all"])
    return store, selection, data


def _estimate_data(estimate: services.Estimate) -> dict:
    problems = [{**as_json(code), "items": count}
                for code, count in sorted(estimate.input_problems.items())]
    return {"skus": estimate.skus, "items": estimate.items, "calls": estimate.calls,
            "input_problems": problems, "included_left": estimate.included_left,
            "overage_calls": estimate.overage_calls, "overage_price": estimate.overage_price,
            "overage_cost": estimate.overage_cost, "calls_over_cap": estimate.calls_over_cap,
            "resets_at": estimate.resets_at, "can_start": estimate.can_start,
            "unusable_reason": estimate.unusable_reason}


JOB_FILTERS = [
    OpenApiParameter("store", OpenApiTypes.INT, description="Only this store's jobs."),
    OpenApiParameter("status", OpenApiTypes.STR, enum=GenerationJob.Status.values),
]
ITEM_FILTERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=GenerationItem.Status.values),
    OpenApiParameter("kind", OpenApiTypes.STR, enum=ContentKind.values),
    OpenApiParameter("language", OpenApiTypes.STR, enum=list(LANGUAGE_NAMES)),
]
JOB_ERROR = {400: ErrorBodySerializer, 404: ErrorBodySerializer}


def _filter_items(queryset, params):
    for name, allowed in (("status", GenerationItem.Status.values),
                          ("kind", ContentKind.values), ("language", list(LANGUAGE_NAMES))):
        value = params.get(name, "")
        if value in allowed:
            queryset = queryset.filter(**{name: value})
    return queryset


@extend_schema_view(
    list=extend_schema(parameters=JOB_FILTERS),
    create=extend_schema(
        request=JobRequestSerializer, responses={201: JobSerializer, **JOB_ERROR},
        description="Start a job: one item per SKU x language x content kind. Items whose "
                    "input fails a pre-check end at once and use no quota. Needs START_WORK."),
)
class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Generation jobs of the tenant, with their counters and progress."""

    model = GenerationJob
    serializer_class = JobSerializer
    key_scopes = {"create": KeyScope.JOBS, "cancel": KeyScope.JOBS,
                  "retry_failed": KeyScope.JOBS, "estimate": None}

    def get_permissions(self):
        if self.action in ("create", "cancel", "retry_failed"):
            return [requires(TenantPermission.START_WORK)()]
        return [IsTenantMember()]

    def get_queryset(self):
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):
            return queryset
        queryset = queryset.select_related("created_by", "cancelled_by")
        if self.action != "list":
            return queryset
        params = self.request.query_params
        store = params.get("store", "")
        if store.isdigit():
            queryset = queryset.filter(store_id=int(store))
        if params.get("status", "") in GenerationJob.Status.values:
            queryset = queryset.filter(status=params["status"])
        return queryset.order_by("-created_at", "-id")

    def create(self, request: Request, *args, **kwargs) -> Response:
        try:
            store, selection, data = _parse(request)
            job = services.start_job(store=store, selection=selection, kinds=data["kinds"],
                                     languages=data["languages"],
                                     compliance_mode=data["compliance_mode"], by=request.user,
                                     target_terms=data.get("target_terms") or {})
        except services.JobError as error:
            return _error(error)
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=JobRequestSerializer, responses={200: EstimateSerializer, **JOB_ERROR},
                   description="What the job would use: SKUs, items, AI calls, input problems "
                               "with meaning and remedy, and the cost against today's quota.")
    @action(detail=False, methods=["post"])
    def estimate(self, request: Request, *args, **kwargs) -> Response:
        try:
            store, selection, data = _parse(request)
            estimate = services.estimate_job(store, selection, data["kinds"], data["languages"])
        except services.JobError as error:
            return _error(error)
        return Response(EstimateSerializer(_estimate_data(estimate)).data)

    @extend_schema(request=None, responses={200: JobSerializer, **JOB_ERROR},
                   description="Stop the rest: items not yet running are cancelled.")
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, *args, **kwargs) -> Response:
        job = self.get_object()
        try:
            services.cancel_job(job, by=request.user)
        except services.JobError as error:
            return _error(error)
        return Response(JobSerializer(job).data)

    @extend_schema(request=RetryRequestSerializer, responses={200: RetriedJobSerializer,
                                                              **JOB_ERROR},
                   description="Run the failed items of an ended job again (after the fix). "
                               "Only as many as today's quota takes run now; the others run "
                               "after the quota resets with after_reset, else stay failed. "
                               "When none fits today: 400 ERR_QUOTA_EXCEEDED with "
                               "would_fail_for_quota and resets_at.")
    @action(detail=True, methods=["post"], url_path="retry-failed")
    def retry_failed(self, request: Request, *args, **kwargs) -> Response:
        job = self.get_object()
        payload = RetryRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            result = services.retry_failed_items(
                job, by=request.user, after_reset=payload.validated_data["after_reset"])
        except services.JobError as error:
            return _error(error)
        job.retry = result
        return Response(RetriedJobSerializer(job).data)

    @extend_schema(responses={200: RetryPlanSerializer},
                   description="What retry-failed would do now: how many items today's quota "
                               "takes, how many would fail again for quota, when it resets.")
    @action(detail=True, methods=["get"], url_path="retry-plan")
    def retry_plan(self, request: Request, *args, **kwargs) -> Response:
        plan = services.plan_retry(self.get_object())
        return Response(RetryPlanSerializer(plan).data)

    @extend_schema(parameters=ITEM_FILTERS, responses=ItemSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=Pagination)
    def items(self, request: Request, *args, **kwargs) -> Response:
        job = self.get_object()
        queryset = _filter_items(GenerationItem.objects.filter(job=job)
                                 .select_related("product", "node").order_by("id"),
                                 request.query_params)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ItemSerializer(page, many=True).data)


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("job", OpenApiTypes.INT, description="Only this job's items."),
    *ITEM_FILTERS]))
class JobItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Generation items (one SKU x language x content kind), with content or error."""

    model = GenerationItem
    serializer_class = ItemSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):
            return queryset
        queryset = queryset.select_related("product", "node")
        job = self.request.query_params.get("job", "")
        if job.isdigit():
            queryset = queryset.filter(job_id=int(job))
        return _filter_items(queryset, self.request.query_params).order_by("id")
