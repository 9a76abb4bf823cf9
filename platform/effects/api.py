"""API: listings with AI content and their effect verdicts, one listing's daily series, and the
effect summaries per store, tenant, instruction version and content kind. Tenant-scoped like
every other endpoint: another tenant's listing or store is simply not found (404)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from effects import experiments, selectors
from effects.models import EffectListing, Experiment, ListingVerdict
from generation.content import ContentKind
from generation.models import InstructionVersion
from portal.limits import MAX_ID
from portal.paging import int_param
from stores.models import Store
from tenants.api import TenantScopedViewSet
from tenants.permissions import requires
from tenants.roles import KeyScope, TenantPermission


class VerdictSerializer(serializers.ModelSerializer):
    verdict_label = serializers.CharField(source="get_verdict_display", read_only=True)

    class Meta:
        model = ListingVerdict
        fields = ["verdict", "verdict_label", "reason", "rule_met", "rule_days_met",
                  "significant", "baseline_impressions", "window_impressions",
                  "impressions_needed", "baseline_ctr", "window_ctr", "ctr_ratio",
                  "ctr_ratio_low", "ctr_ratio_high", "ctr_p_value", "baseline_cvr", "window_cvr",
                  "cvr_noninferiority_p", "computed_at"]
        read_only_fields = fields


class EffectListingSerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="product.title", read_only=True)
    verdict = serializers.SerializerMethodField()

    class Meta:
        model = EffectListing
        fields = ["id", "store", "product", "marketplace_id", "title", "content_kind",
                  "instruction_version", "first_published_at", "publish_day", "synced_through",
                  "verdict"]
        read_only_fields = fields

    @extend_schema_field(VerdictSerializer(allow_null=True))
    def get_verdict(self, listing: EffectListing) -> dict | None:
        verdict = getattr(listing, "verdict", None)
        return VerdictSerializer(verdict).data if verdict is not None else None


class DaySerializer(serializers.Serializer):
    day = serializers.DateField()
    offset = serializers.IntegerField(help_text=_("Days from the publish day (0)."))
    impressions = serializers.IntegerField()
    clicks = serializers.IntegerField()
    orders = serializers.IntegerField()
    ctr = serializers.FloatField(allow_null=True)
    cvr = serializers.FloatField(allow_null=True)
    ratio_low = serializers.FloatField(allow_null=True, help_text=_(
        "The day's CTR over the baseline CTR: lower end of the 95% CI."))
    ratio_high = serializers.FloatField(allow_null=True)
    in_window = serializers.BooleanField(help_text=_("One of the rule's 7 days."))
    in_baseline = serializers.BooleanField()


class ListingEffectSerializer(EffectListingSerializer):
    reason_text = serializers.CharField(read_only=True)
    window_start = serializers.DateField(read_only=True)
    window_end = serializers.DateField(read_only=True)
    days = DaySerializer(many=True, read_only=True)

    class Meta(EffectListingSerializer.Meta):
        fields = [*EffectListingSerializer.Meta.fields, "reason_text", "window_start",
                  "window_end", "days"]
        read_only_fields = fields


class SummarySerializer(serializers.Serializer):
    key = serializers.CharField(allow_null=True, help_text=_(
        "The store's, tenant's or instruction version's id, or the content kind."))
    listings = serializers.IntegerField()
    judged = serializers.IntegerField(help_text=_("Listings with enough data for a verdict."))
    effective = serializers.IntegerField()
    effective_share = serializers.FloatField(allow_null=True, help_text=_(
        "Effective listings over judged listings."))
    rule_met = serializers.IntegerField()
    not_enough_data = serializers.IntegerField()
    average_lift = serializers.FloatField(allow_null=True, help_text=_(
        "Geometric mean CTR lift of the judged listings."))
    lift_low = serializers.FloatField(allow_null=True)
    lift_high = serializers.FloatField(allow_null=True)


LISTING_FILTERS = [
    OpenApiParameter("store", OpenApiTypes.INT, description="Only this store's listings."),
    OpenApiParameter("verdict", OpenApiTypes.STR, enum=ListingVerdict.Verdict.values),
]
SUMMARY_PARAMETERS = [
    OpenApiParameter("by", OpenApiTypes.STR, enum=list(selectors.GROUPINGS),
                     description="Default: store."),
    OpenApiParameter("store", OpenApiTypes.INT, description="Only this store's listings."),
]


def _choice(request: Request, name: str, choices: list[str]) -> str | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    if value not in choices:
        raise exceptions.ValidationError({name: [_("Choose one of: %(choices)s.")
                                                 % {"choices": ", ".join(choices)}]})
    return value


def _store_id(request: Request) -> int | None:
    raw = request.query_params.get("store")
    if raw in (None, ""):
        return None
    store_id = int_param(raw)
    if store_id is None:
        raise exceptions.ValidationError({"store": [_("A store ID is a whole number.")]})
    return store_id


@extend_schema_view(list=extend_schema(parameters=LISTING_FILTERS))
class EffectListingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                           TenantScopedViewSet):
    """Listings whose AI content was published, with their effect verdict."""

    model = EffectListing
    serializer_class = EffectListingSerializer

    def get_serializer_class(self):
        return ListingEffectSerializer if self.action == "retrieve" else EffectListingSerializer

    def get_queryset(self):
        listings = super().get_queryset().select_related("product", "verdict", "store") \
            .order_by("-publish_day", "id")
        if getattr(self, "swagger_fake_view", False) or self.action != "list":
            return listings
        store_id = _store_id(self.request)
        if store_id is not None:
            listings = listings.filter(store_id=store_id)
        verdict = _choice(self.request, "verdict", ListingVerdict.Verdict.values)
        if verdict:
            listings = listings.filter(verdict__verdict=verdict)
        return listings

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        """One listing: its verdict and why, and its daily CTR and CVR around the publish."""
        listing = self.get_object()
        effect = selectors.listing_effect(listing)
        listing.reason_text = effect.reason
        listing.window_start, listing.window_end = effect.window_start, effect.window_end
        listing.days = effect.days
        return Response(ListingEffectSerializer(listing).data)

    @extend_schema(parameters=SUMMARY_PARAMETERS, responses=SummarySerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None)
    def summary(self, request: Request, *args, **kwargs) -> Response:
        """Share of effective listings and the average lift with its 95% CI, grouped."""
        by = _choice(request, "by", list(selectors.GROUPINGS)) or "store"
        verdicts = ListingVerdict.objects.all()
        store_id = _store_id(request)
        if store_id is not None:
            verdicts = verdicts.filter(store_id=store_id)
        summaries = selectors.summarize(verdicts, by)
        return Response(SummarySerializer(summaries, many=True).data)


# -- experiments (A/B tests) -----------------------------------------------------------------

class ExperimentSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    skus = serializers.IntegerField(source="assignments.count", read_only=True)

    class Meta:
        model = Experiment
        fields = ["id", "store", "name", "content_kind", "version_a", "version_b", "status",
                  "status_label", "starts_on", "planned_days", "seed", "skus", "created_at"]
        read_only_fields = fields


class ArmSerializer(serializers.Serializer):
    arm = serializers.CharField()
    assigned = serializers.IntegerField()
    with_data = serializers.IntegerField(help_text=_("SKUs that reported traffic."))
    mean_ctr = serializers.FloatField(allow_null=True)
    adjusted_ctr = serializers.FloatField(allow_null=True, help_text=_("CUPED-adjusted."))
    ctr_low = serializers.FloatField(allow_null=True)
    ctr_high = serializers.FloatField(allow_null=True)


class ExperimentResultSerializer(serializers.Serializer):
    ends_on = serializers.DateField()
    through = serializers.DateField(allow_null=True)
    days_done = serializers.IntegerField()
    progress = serializers.FloatField()
    finished = serializers.BooleanField()
    arms = ArmSerializer(many=True)
    lift = serializers.FloatField(allow_null=True, help_text=_("CTR of arm B over arm A."))
    lift_low = serializers.FloatField(allow_null=True)
    lift_high = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    cuped_theta = serializers.FloatField(allow_null=True)
    variance_reduction = serializers.FloatField(allow_null=True)
    srm_p_value = serializers.FloatField(allow_null=True)
    sample_ratio_mismatch = serializers.BooleanField()
    achieved_power = serializers.FloatField(allow_null=True)
    verdict = serializers.CharField(allow_null=True, help_text=_(
        "b_better, a_better or no_difference; null before the planned end."))


class ExperimentDetailSerializer(ExperimentSerializer):
    result = serializers.SerializerMethodField()

    class Meta(ExperimentSerializer.Meta):
        fields = [*ExperimentSerializer.Meta.fields, "result"]
        read_only_fields = fields

    @extend_schema_field(ExperimentResultSerializer)
    def get_result(self, experiment: Experiment) -> dict:
        return ExperimentResultSerializer(experiments.analyze(experiment)).data


class NewExperimentSerializer(serializers.Serializer):
    store = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    name = serializers.CharField(max_length=200)
    content_kind = serializers.ChoiceField(choices=ContentKind.choices)
    version_a = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False,
                                         allow_null=True, help_text=_(
                                             "Empty: control, the SKUs keep their text."))
    version_b = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    products = serializers.ListField(child=serializers.IntegerField(min_value=1,
                                                                    max_value=MAX_ID),
                                     min_length=experiments.MIN_SKUS, max_length=5000)
    planned_days = serializers.IntegerField(min_value=Experiment.MIN_DAYS, max_value=365,
                                            default=Experiment.MIN_DAYS)


class ExperimentRefused(exceptions.ValidationError):
    def __init__(self, error: experiments.ExperimentError) -> None:
        super().__init__({error.field or "non_field_errors": [error.message]})
        self.error_code = error.code


class ExperimentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        TenantScopedViewSet):
    """A/B tests of listing content on a store's SKUs (at least 14 days)."""

    model = Experiment
    serializer_class = ExperimentSerializer
    key_scopes = {"create": KeyScope.JOBS}

    def get_permissions(self):
        if self.action == "create":
            return [requires(TenantPermission.START_WORK)()]
        return super().get_permissions()

    def get_serializer_class(self):
        return ExperimentDetailSerializer if self.action == "retrieve" else ExperimentSerializer

    def get_queryset(self):
        return super().get_queryset().order_by("-created_at", "-id")

    @extend_schema(request=NewExperimentSerializer, responses={201: ExperimentDetailSerializer})
    def create(self, request: Request) -> Response:
        """Start an experiment: the SKUs are randomised into arms A and B, for good."""
        data = NewExperimentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        store = Store.objects.filter(pk=values["store"]).first()
        if store is None:
            raise exceptions.ValidationError({"store": [_("No such store.")]})
        found = {v.pk: v for v in InstructionVersion.objects.select_related("instruction_set")
                 .filter(pk__in=[values.get("version_a"), values["version_b"]])}
        version_b = found.get(values["version_b"])
        version_a = found.get(values.get("version_a")) if values.get("version_a") else None
        if version_b is None or (values.get("version_a") and version_a is None):
            raise exceptions.ValidationError({"version_b": [_("No such instruction version.")]})
        try:
            experiment = experiments.create_experiment(
                store=store, name=values["name"], content_kind=values["content_kind"],
                version_a=version_a, version_b=version_b, product_ids=values["products"],
                planned_days=values["planned_days"], by=request.user)
        except experiments.ExperimentError as error:
            raise ExperimentRefused(error) from error
        return Response(ExperimentDetailSerializer(experiment).data, status=201)
