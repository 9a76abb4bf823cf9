"""The review API: the queue, one item, decisions, bulk approve, publishing and its status.

Tenant-scoped (another tenant's item is not found); decisions need the REVIEW permission,
publishing PUBLISH (owners, operators, reviewers). Refusals answer in the project's error body
with the ERR_REVIEW_* / store codes of portal.error_codes.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from generation import gates
from generation.api import GateFindingSerializer
from generation.content import LANGUAGE_CHOICES, ContentKind
from portal.error_codes import as_json
from portal.limits import MAX_ID
from portal.paging import int_param
from portal.schema import ErrorBodySerializer
from review import publishing, selectors, services
from review.models import Review
from review.services import ReviewError
from tenants.api import TenantScopedViewSet
from tenants.permissions import IsTenantMember, requires
from tenants.roles import KeyScope, TenantPermission, tenant_role_allows


class OriginalListingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    marketplace_id = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    bullet_points = serializers.ListField(child=serializers.CharField())
    search_terms = serializers.ListField(child=serializers.CharField())


class ReviewSerializer(serializers.ModelSerializer):
    item_id = serializers.IntegerField(read_only=True)
    job_id = serializers.IntegerField(read_only=True)
    store_id = serializers.IntegerField(read_only=True)
    store_name = serializers.CharField(source="store.display_name", read_only=True)
    kind = serializers.CharField(source="item.kind", read_only=True)
    kind_label = serializers.CharField(source="item.get_kind_display", read_only=True)
    language = serializers.CharField(source="item.language", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    original = OriginalListingSerializer(source="item.product", read_only=True,
                                 help_text=_("The listing as synced from the marketplace."))
    current_content = serializers.JSONField(read_only=True)
    needs_human_check = serializers.BooleanField(source="item.needs_human_check",
                                                 read_only=True)
    compliance_hits = serializers.JSONField(source="item.compliance_hits", read_only=True)
    gate_findings = serializers.SerializerMethodField(
        help_text=_("The quality gates' findings on the text, with meaning and remedy."))
    keyword_coverage = serializers.JSONField(source="item.keyword_coverage", read_only=True)
    instruction_version_id = serializers.IntegerField(source="item.instruction_version_id",
                                                      read_only=True, allow_null=True)
    near_duplicate = serializers.SerializerMethodField()
    reviewer = serializers.EmailField(source="reviewer.email", read_only=True, default=None,
                                      allow_null=True, help_text=_("Null until decided."))
    publish = serializers.SerializerMethodField()
    comparison = serializers.SerializerMethodField(
        help_text=_("The listing's text, the AI text and the text to publish, with word diffs."))

    class Meta:
        model = Review
        fields = ["id", "item_id", "job_id", "store_id", "store_name", "kind", "kind_label",
                  "language", "status", "status_label", "destination", "generation",
                  "original", "ai_content", "edited_content", "current_content",
                  "needs_human_check", "compliance_hits", "gate_findings", "keyword_coverage",
                  "near_duplicate",
                  "instruction_version_id", "reviewer", "decided_at", "reject_reason",
                  "regeneration_note", "publish", "ai_share", "comparison", "created_at"]
        read_only_fields = fields

    @extend_schema_field(GateFindingSerializer(many=True))
    def get_gate_findings(self, review: Review) -> list[dict]:
        return gates.explained(review.item.gate_findings)

    def get_near_duplicate(self, review: Review) -> dict | None:
        if review.near_duplicate_of_id is None:
            return None
        return {"item_id": review.near_duplicate_of_id,
                "similarity": str(review.near_duplicate_similarity)}

    def get_comparison(self, review: Review) -> dict:
        return selectors.comparison(review)

    def get_publish(self, review: Review) -> dict:
        error = None
        if review.publish_error_code:
            error = {**as_json(review.publish_error_code),
                     "message": review.publish_error_message}
        when = serializers.DateTimeField()
        return {"pending": review.publish_pending,
                "queued_at": when.to_representation(review.publish_queued_at)
                if review.publish_queued_at else None,
                "published_at": when.to_representation(review.published_at)
                if review.published_at else None,
                "attempts": review.publish_attempts,
                "request_id": review.publish_request_id, "error": error,
                "ai_assisted": review.status == Review.Status.PUBLISHED or None,
                # What our filter and the marketplace's own check refused before the last
                # attempt (the item went back to review), in the user's language.
                "check_findings": selectors.check_findings(review)}


class EditSerializer(serializers.Serializer):
    content = serializers.JSONField(help_text=_("The whole content in the kind's shape."))


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, allow_blank=True, trim_whitespace=True)


class RegenerateSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="",
                                 help_text=_("Added to the next attempt's instructions."))


class IdsSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
                                min_length=1, max_length=1000)


class AuditEventSerializer(serializers.Serializer):
    action = serializers.CharField()
    actor = serializers.EmailField(source="actor.email", default=None, allow_null=True,
                                   help_text=_("Null for the system."))
    target = serializers.CharField()
    details = serializers.JSONField()
    created_at = serializers.DateTimeField()


class CountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    compliance_flagged = serializers.IntegerField()
    near_duplicates = serializers.IntegerField()
    approved = serializers.IntegerField()
    publishing = serializers.IntegerField()
    published = serializers.IntegerField()
    publish_failed = serializers.IntegerField()
    rejected = serializers.IntegerField()
    regeneration_requested = serializers.IntegerField()


class BatchResultSerializer(serializers.Serializer):
    done = serializers.ListField(child=serializers.IntegerField())
    skipped = serializers.ListField(child=serializers.DictField())


class ReviewRefused(exceptions.APIException):
    """A decision the rules refuse: 403 (role, four eyes), 409 (state) or 400."""

    STATUS = {"ERR_REVIEW_NOT_ALLOWED": status.HTTP_403_FORBIDDEN,
              "ERR_REVIEW_FOUR_EYES": status.HTTP_403_FORBIDDEN,
              "ERR_REVIEW_STATE": status.HTTP_409_CONFLICT}

    def __init__(self, error: ReviewError) -> None:
        super().__init__(error.message)
        self.status_code = self.STATUS.get(error.code, status.HTTP_400_BAD_REQUEST)
        self.error_code = error.code


class ReviewInvalid(exceptions.ValidationError):
    def __init__(self, error: ReviewError) -> None:
        super().__init__({error.field or "non_field_errors": error.details or [error.message]})
        self.error_code = error.code


def refused(error: ReviewError) -> exceptions.APIException:
    if error.field:
        return ReviewInvalid(error)
    return ReviewRefused(error)


class MayPublish(IsTenantMember):
    message = _("Your role or your company's status does not allow this action.")

    def has_permission(self, request: Request, view) -> bool:
        return super().has_permission(request, view) and publishing.may_publish(
            request._request.tenant, request._request.tenant_role)


# A decision on an item in the wrong state (ERR_REVIEW_STATE) answers 409.
DECISION_RESPONSES = {200: ReviewSerializer, 409: ErrorBodySerializer}

QUEUE_PARAMETERS = [
    OpenApiParameter("status", str, enum=[*Review.Status.values, "all"],
                     description="Default: pending."),
    OpenApiParameter("store", int), OpenApiParameter("job", int),
    OpenApiParameter("kind", str, enum=ContentKind.values),
    OpenApiParameter("language", str, enum=[code for code, _name in LANGUAGE_CHOICES]),
    OpenApiParameter("flag", str, enum=list(selectors.FLAGS)),
]


class ReviewViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The review queue: AI-generated items a person checks before they are published."""

    model = Review
    serializer_class = ReviewSerializer
    decision_actions = {"approve", "edit", "reject", "regenerate", "bulk_approve"}
    key_scopes = {**dict.fromkeys(decision_actions, KeyScope.REVIEW), "publish": KeyScope.PUBLISH}

    def get_permissions(self):
        if self.action in self.decision_actions:
            return [requires(TenantPermission.REVIEW)()]
        if self.action == "publish":
            return [MayPublish()]
        return super().get_permissions()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Review.unscoped.none()
        if self.action != "list":
            return selectors.review_queue(status=None)
        params = self.request.query_params
        wanted = params.get("status") or Review.Status.PENDING
        return selectors.review_queue(
            status=None if wanted == "all" else wanted, store_id=int_param(params.get("store")),
            job_id=int_param(params.get("job")), kind=params.get("kind") or None,
            language=params.get("language") or None, flag=params.get("flag") or None)

    @extend_schema(parameters=QUEUE_PARAMETERS)
    def list(self, request: Request, *args, **kwargs) -> Response:
        """The queue, compliance-flagged items first, then near-duplicates, oldest first."""
        return super().list(request, *args, **kwargs)

    def _decide(self, decide, form: type[serializers.Serializer] | None = None) -> Response:
        """Run one review service on the item with the request's validated `form` fields;
        answer the item as it is now, or the refusal in the error body."""
        review = self.get_object()
        fields = {}
        if form is not None:
            data = form(data=self.request.data)
            data.is_valid(raise_exception=True)
            fields = data.validated_data
        try:
            review = decide(review, by=self.request.user,
                            role=self.request._request.tenant_role, **fields)
        except ReviewError as error:
            raise refused(error) from error
        return Response(ReviewSerializer(selectors.review_detail(review.pk)).data)

    @extend_schema(request=None, responses=DECISION_RESPONSES)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, *args, **kwargs) -> Response:
        """Approve the AI text as it is."""
        return self._decide(services.approve)

    @extend_schema(request=EditSerializer, responses=DECISION_RESPONSES)
    @action(detail=True, methods=["post"])
    def edit(self, request: Request, *args, **kwargs) -> Response:
        """Approve an edited text; it goes through the compliance filter again first."""
        return self._decide(services.edit_and_approve, EditSerializer)

    @extend_schema(request=RejectSerializer, responses=DECISION_RESPONSES)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, *args, **kwargs) -> Response:
        """Reject the text; a reason is required."""
        return self._decide(services.reject, RejectSerializer)

    @extend_schema(request=RegenerateSerializer, responses=DECISION_RESPONSES)
    @action(detail=True, methods=["post"])
    def regenerate(self, request: Request, *args, **kwargs) -> Response:
        """Send the item back for regeneration; the note goes into the next attempt."""
        return self._decide(services.request_regeneration, RegenerateSerializer)

    @extend_schema(responses=AuditEventSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def history(self, request: Request, *args, **kwargs) -> Response:
        """The item's audit trail: generated, entered review, decisions, publishing."""
        review = self.get_object()
        return Response(AuditEventSerializer(selectors.audit_trail(review), many=True).data)

    def _batch(self, request: Request, run) -> tuple[list[int], list[dict]]:
        """Run a batch service (bulk approve, publish) on the chosen items: the ids done, and
        the ids skipped (or not found) with the reason."""
        data = IdsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = list(dict.fromkeys(data.validated_data["ids"]))
        found = {r.pk: r for r in Review.objects.select_related("tenant").filter(pk__in=ids)}
        try:
            result = run([found[pk] for pk in ids if pk in found], by=request.user,
                         role=request._request.tenant_role)
        except ReviewError as error:
            raise refused(error) from error
        skipped = [{"id": pk, **reason} for pk, reason in result.skipped.items()]
        missing = [{"id": pk, "code": "not_found", "message": str(_("Not found."))}
                   for pk in ids if pk not in found]
        return result.done, skipped + missing

    @extend_schema(request=IdsSerializer, responses=BatchResultSerializer)
    @action(detail=False, methods=["post"], url_path="bulk-approve")
    def bulk_approve(self, request: Request, *args, **kwargs) -> Response:
        """Approve clean items at once; flagged items, near-duplicates and items the four-eyes
        rule keeps from you are skipped with the reason."""
        done, skipped = self._batch(request, services.bulk_approve)
        return Response({"done": done, "skipped": skipped})

    @extend_schema(request=IdsSerializer, responses=BatchResultSerializer)
    @action(detail=False, methods=["post"])
    def publish(self, request: Request, *args, **kwargs) -> Response:
        """Publish approved items to the marketplace (always with the AI-assisted flag), in
        batches in the background. Items that cannot be published are skipped with the
        reason (seller-only content, not approved, the store's state)."""
        done, skipped = self._batch(request, publishing.queue_publication)
        return Response({"done": done, "skipped": skipped},
                        status=status.HTTP_202_ACCEPTED if done else status.HTTP_200_OK)

    @extend_schema(parameters=[OpenApiParameter("store", int), OpenApiParameter("job", int)],
                   responses=ReviewSerializer(many=True))
    @action(detail=False, methods=["get"], url_path="publish-status")
    def publish_status(self, request: Request, *args, **kwargs) -> Response:
        """Items on their way to the marketplace: queued, published or failed (with the code,
        meaning and remedy)."""
        params = request.query_params
        reviews = selectors.publish_status(store_id=int_param(params.get("store")),
                                           job_id=int_param(params.get("job")))
        page = self.paginate_queryset(reviews)
        return self.get_paginated_response(ReviewSerializer(page, many=True).data)

    @extend_schema(parameters=[OpenApiParameter("store", int), OpenApiParameter("job", int)],
                   responses=CountsSerializer)
    @action(detail=False, methods=["get"])
    def counts(self, request: Request, *args, **kwargs) -> Response:
        """How many items wait, are flagged, approved, publishing, published or failed."""
        params = request.query_params
        return Response(selectors.queue_counts(store_id=int_param(params.get("store")),
                                               job_id=int_param(params.get("job"))))


class ReviewSettingsSerializer(serializers.Serializer):
    require_four_eyes = serializers.BooleanField(
        help_text=_("The person who started a job cannot approve its items."))


class ManagesCompanyForWrites(IsTenantMember):
    """Every member reads the review rules; only MANAGE_COMPANY (owners) changes them."""

    message = _("Your role or your company's status does not allow this action.")

    def has_permission(self, request: Request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        tenant = request._request.tenant
        return tenant_role_allows(request._request.tenant_role, tenant.is_active,
                                  TenantPermission.MANAGE_COMPANY)


@extend_schema(methods=["GET"], responses=ReviewSettingsSerializer)
@extend_schema(methods=["PUT"], request=ReviewSettingsSerializer,
               responses=ReviewSettingsSerializer)
@api_view(["GET", "PUT"])
@permission_classes([ManagesCompanyForWrites])
def review_settings(request: Request) -> Response:
    """The company's review rules (four eyes); owners change them."""
    tenant = request._request.tenant
    if request.method == "PUT":
        data = ReviewSettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.update_settings(tenant, by=request.user, **data.validated_data)
    current = services.settings_for(tenant)
    return Response(ReviewSettingsSerializer(current).data)
