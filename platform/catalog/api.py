"""API: the tenant's products (with the catalog page's filters) and sync runs; request a sync."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from catalog import selectors, services
from catalog.models import Product, QualityFlag, SyncRun
from portal.limits import MAX_ID
from portal.schema import ErrorBodySerializer
from tenants.api import TenantScopedViewSet
from tenants.permissions import IsTenantMember, requires
from tenants.roles import KeyScope, TenantPermission


class ProductSerializer(serializers.ModelSerializer):
    store = serializers.PrimaryKeyRelatedField(read_only=True)
    quality_flags = serializers.ListField(child=serializers.ChoiceField(QualityFlag.choices),
                                          read_only=True)

    class Meta:
        model = Product
        fields = ["id", "store", "marketplace_id", "sku", "title", "category", "description",
                  "attributes", "parameters", "images", "bullet_points", "search_terms", "price",
                  "currency", "quality_flags", "attribute_word_count", "parameter_completeness",
                  "main_image_width", "content_hash", "first_synced_at", "last_synced_at"]
        read_only_fields = fields


class SyncRunSerializer(serializers.ModelSerializer):
    store = serializers.PrimaryKeyRelatedField(read_only=True)
    requested_by = serializers.EmailField(source="requested_by.email", read_only=True,
                                          allow_null=True)

    class Meta:
        model = SyncRun
        fields = ["id", "store", "status", "requested_by", "started_at", "finished_at", "pages",
                  "total_reported", "created", "updated", "unchanged", "over_limit",
                  "sku_limit", "error_code", "error_message"]
        read_only_fields = fields


class SyncRequestSerializer(serializers.Serializer):
    store = serializers.IntegerField(min_value=1, max_value=MAX_ID,
                                     help_text=_("ID of the store to sync."))


class SyncNotPossibleError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "sync_not_possible"
    default_detail = _("The store cannot be synced now.")


PRODUCT_FILTERS = [
    OpenApiParameter("q", OpenApiTypes.STR, description="Search in title, SKU and goods ID."),
    OpenApiParameter("store", OpenApiTypes.INT, description="Only this store's products."),
    OpenApiParameter("category", OpenApiTypes.STR, description="Exact category."),
    OpenApiParameter("flag", OpenApiTypes.STR, enum=QualityFlag.values,
                     description="Only products with this quality flag."),
]


@extend_schema_view(list=extend_schema(parameters=PRODUCT_FILTERS))
class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Products synced from the tenant's stores, with their input-quality flags."""

    model = Product
    serializer_class = ProductSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return super().get_queryset()
        if self.action == "list":
            return selectors.products(selectors.ProductFilters.from_params(
                self.request.query_params))
        return super().get_queryset().select_related("store")


@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter("store", OpenApiTypes.INT)]),
    create=extend_schema(
        request=SyncRequestSerializer,
        responses={202: SyncRunSerializer, 200: SyncRunSerializer, 409: ErrorBodySerializer},
        description="Request a sync of a store's products. 202 with the new queued run, or "
                    "200 with the run already queued or running for that store.",
    ),
)
class SyncRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     TenantScopedViewSet):
    """Catalog sync runs of the tenant's stores; POST requests a sync (needs START_WORK)."""

    model = SyncRun
    serializer_class = SyncRunSerializer
    key_scopes = {"create": KeyScope.JOBS}

    def get_permissions(self):
        if self.action == "create":
            return [requires(TenantPermission.START_WORK)()]
        return [IsTenantMember()]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return super().get_queryset()
        store = self.request.query_params.get("store", "")
        return selectors.sync_runs(int(store) if store.isdigit() else None)

    def create(self, request: Request, *args, **kwargs) -> Response:
        payload = SyncRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        store = selectors.stores().filter(pk=payload.validated_data["store"]).first()
        if store is None:
            raise exceptions.ValidationError(
                {"store": [_("No such store: give the ID of one of your stores.")]})
        try:
            requested = services.request_sync(store, by=request.user)
        except services.SyncNotPossible as error:
            raise SyncNotPossibleError(str(error)) from error
        return Response(SyncRunSerializer(requested.run).data,
                        status=status.HTTP_202_ACCEPTED if requested.started
                        else status.HTTP_200_OK)
