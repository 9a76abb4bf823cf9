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

from effects import selectors
from effects.models import EffectListing, ListingVerdict
from portal.paging import int_param
from tenants.api import TenantScopedViewSet


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
    @action(detail=False, methods=["get"])
    def summary(self, request: Request, *args, **kwargs) -> Response:
        """Share of effective listings and the average lift with its 95% CI, grouped."""
        by = _choice(request, "by", list(selectors.GROUPINGS)) or "store"
        verdicts = ListingVerdict.objects.all()
        store_id = _store_id(request)
        if store_id is not None:
            verdicts = verdicts.filter(store_id=store_id)
        summaries = selectors.summarize(verdicts, by)
        return Response(SummarySerializer(summaries, many=True).data)
