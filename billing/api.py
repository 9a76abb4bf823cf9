"""The billing API: today's quota per store, and the stores' subscriptions (read-only)."""

from __future__ import annotations

from rest_framework import mixins, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from billing import quota
from billing.models import StoreSubscription
from stores.models import Store
from tenants.api import TenantScopedViewSet


class SubscriptionSerializer(serializers.ModelSerializer):
    store_name = serializers.CharField(source="store.display_name", read_only=True)
    site_code = serializers.CharField(source="store.site_code", read_only=True)
    pack = serializers.CharField(source="pack_version.pack.name", read_only=True)
    pack_version = serializers.IntegerField(source="pack_version.number", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    licence_price_per_year = serializers.DecimalField(
        source="pack_version.licence_price_per_year", max_digits=12, decimal_places=2,
        read_only=True, help_text="CNY")
    included_calls_per_day = serializers.IntegerField(
        source="pack_version.included_calls_per_day", read_only=True)
    overage_price_per_call = serializers.DecimalField(
        source="pack_version.overage_price_per_call", max_digits=12, decimal_places=2,
        read_only=True, help_text="CNY")
    sku_limit = serializers.IntegerField(source="pack_version.sku_limit", read_only=True)

    class Meta:
        model = StoreSubscription
        fields = ["id", "store", "store_name", "site_code", "pack", "pack_version", "status",
                  "status_label", "starts_on", "ends_on", "daily_overage_cap",
                  "licence_price_per_year", "included_calls_per_day", "overage_price_per_call",
                  "sku_limit", "cancelled_at", "created_at"]
        read_only_fields = fields


class SubscriptionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          TenantScopedViewSet):
    """The tenant's store subscriptions (one per store and period), newest period first."""

    model = StoreSubscription
    serializer_class = SubscriptionSerializer

    def get_queryset(self):
        return super().get_queryset().select_related("store", "pack_version__pack").order_by(
            "store_id", "-starts_on")


class UsageTodaySerializer(serializers.Serializer):
    store = serializers.IntegerField(source="store.pk")
    store_name = serializers.CharField(source="store.display_name")
    site_code = serializers.CharField(source="store.site_code")
    day = serializers.DateField(help_text="The tenant's local day.")
    resets_at = serializers.DateTimeField(help_text="Next local midnight.")
    subscription = serializers.IntegerField(source="subscription.pk", allow_null=True)
    included_calls = serializers.IntegerField()
    included_used = serializers.IntegerField()
    included_left = serializers.IntegerField()
    overage_used = serializers.IntegerField()
    overage_amount = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="CNY")
    in_progress = serializers.IntegerField()
    overage_cap = serializers.IntegerField(allow_null=True,
                                           help_text="null: no cap; 0: stop at included calls.")
    calls_left = serializers.IntegerField(allow_null=True, help_text="null: unlimited.")
    unusable_reason = serializers.CharField(
        help_text="Why the store cannot start generation; empty when it can.")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.subscription is None:
            data["subscription"] = None
        return data


class UsageTodayViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Today's quota per store (the tenant's local day): included used and left, overage so
    far, calls in progress, the cap and when the quota resets. Retrieve by store id."""

    model = Store
    serializer_class = UsageTodaySerializer

    def get_queryset(self):
        return super().get_queryset().select_related("tenant")

    def list(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        rows = [quota.usage_today(store) for store in page]
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return Response(self.get_serializer(quota.usage_today(self.get_object())).data)
