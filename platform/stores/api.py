"""The stores API: list and read the tenant's stores, add one, re-authorize, revoke.

The access token never leaves the server: no serializer here has a field for it."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from marketplaces.sites import SITES
from portal.error_codes import as_json
from stores import selectors, services
from stores.models import Store
from tenants.api import TenantScopedViewSet
from tenants.permissions import requires
from tenants.roles import TenantPermission


class StoreSerializer(serializers.ModelSerializer):
    site_label = serializers.CharField(source="site.label", read_only=True)
    marketplace = serializers.CharField(source="site.marketplace.value", read_only=True)
    status = serializers.SerializerMethodField(
        help_text=_("The store's status; a token whose time ran out is token_expired at once."))
    status_label = serializers.SerializerMethodField()
    token_state = serializers.SerializerMethodField(
        help_text=_("none, valid, expiring_soon or expired: the same answer as the status "
                    "(a token the marketplace refused is expired, whatever its expiry date)."))
    token_expiring_soon = serializers.SerializerMethodField(
        help_text=_("The token expires within 24 hours: re-authorize the store."))
    last_error = serializers.SerializerMethodField()
    is_archived = serializers.BooleanField(read_only=True)

    class Meta:
        model = Store
        fields = ["id", "site_code", "site_label", "marketplace", "display_name", "shop_id",
                  "status", "status_label", "token_state", "token_expires_at",
                  "token_expiring_soon", "token_scopes", "authorized_at", "last_synced_at",
                  "last_error", "is_archived", "archived_at", "created_at"]
        read_only_fields = fields

    def _token(self, store: Store) -> selectors.TokenValidity:
        return selectors.token_validity(store)

    @extend_schema_field(serializers.ChoiceField(choices=Store.Status.choices))
    def get_status(self, store: Store) -> str:
        return selectors.effective_status(store, self._token(store))

    def get_status_label(self, store: Store) -> str:
        return str(Store.Status(self.get_status(store)).label)

    @extend_schema_field(serializers.ChoiceField(
        choices=["none", "valid", "expiring_soon", "expired"]))
    def get_token_state(self, store: Store) -> str:
        return self._token(store).state

    def get_token_expiring_soon(self, store: Store) -> bool:
        return self._token(store).expiring_soon

    def get_last_error(self, store: Store) -> dict | None:
        if not store.last_error_code:
            return None
        return {**as_json(store.last_error_code), "message": store.last_error_message,
                "at": serializers.DateTimeField().to_representation(store.last_error_at)
                if store.last_error_at else None}


class AddStoreSerializer(serializers.Serializer):
    site_code = serializers.ChoiceField(choices=sorted(SITES))
    authorization_code = serializers.CharField(max_length=512, trim_whitespace=True)


class ReauthorizeSerializer(serializers.Serializer):
    authorization_code = serializers.CharField(max_length=512, trim_whitespace=True)


class StoreRefused(exceptions.ValidationError):
    """A store action the marketplace or our rules refused: 400 with the reason's code
    (e.g. ERR_AUTH_CODE_INVALID, store_exists) and the remedy under the field's name."""

    def __init__(self, error: services.StoreError) -> None:
        detail = {error.field or "non_field_errors": [error.message]}
        if error.code == "wrong_site":  # what the marketplace said: the site to choose
            detail["marketplace_site_code"] = [error.details["site_code"]]
        super().__init__(detail)
        self.error_code = error.code


class StoreViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's marketplace stores (one per marketplace site)."""

    model = Store
    serializer_class = StoreSerializer
    write_actions = {"create", "reauthorize", "revoke"}

    def get_permissions(self):
        if self.action == "archive":
            return [requires(TenantPermission.MANAGE_COMPANY)()]
        if self.action in self.write_actions:
            return [requires(TenantPermission.START_WORK)()]
        return super().get_permissions()

    def get_queryset(self):
        queryset = super().get_queryset().select_related("tenant")
        if self.action == "list" and self.request.query_params.get("archived") != "true":
            queryset = queryset.filter(archived_at__isnull=True)
        return queryset

    @extend_schema(request=AddStoreSerializer, responses={201: StoreSerializer})
    def create(self, request: Request) -> Response:
        """Add a store: exchange an authorization code from the seller center (valid 7 days)."""
        data = AddStoreSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            store = services.add_store(tenant=request._request.tenant, by=request.user,
                                       **data.validated_data)
        except services.StoreError as error:
            raise StoreRefused(error) from error
        return Response(StoreSerializer(store).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReauthorizeSerializer, responses=StoreSerializer)
    @action(detail=True, methods=["post"])
    def reauthorize(self, request: Request, *args, **kwargs) -> Response:
        """Replace the store's token in place with one from a new authorization code."""
        store = self.get_object()  # another tenant's store: 404 before anything else
        data = ReauthorizeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.reauthorize_store(store, by=request.user, **data.validated_data)
        except services.StoreError as error:
            raise StoreRefused(error) from error
        return Response(StoreSerializer(store).data)

    @extend_schema(request=None, responses=StoreSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, *args, **kwargs) -> Response:
        """Disconnect the store: its token is deleted here (cancel it in the seller center)."""
        store = self.get_object()
        try:
            services.revoke_store(store, by=request.user)
        except services.StoreError as error:
            raise StoreRefused(error) from error
        return Response(StoreSerializer(store).data)

    @extend_schema(request=None, responses=StoreSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, *args, **kwargs) -> Response:
        """Archive a revoked store (owners): kept for billing history and the audit trail,
        hidden from lists (`?archived=true` lists them too) and selections."""
        store = self.get_object()
        try:
            services.archive_store(store, by=request.user)
        except services.StoreError as error:
            raise StoreRefused(error) from error
        return Response(StoreSerializer(store).data)
