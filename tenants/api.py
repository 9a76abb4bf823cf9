"""The tenant-scoped base every API view builds on, and the tenant endpoints."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.models import Membership
from tenants.roles import KeyScope, TenantPermission, TenantRole, tenant_role_allows
from tenants.scope import TenantOwnedModel


class TenantScopedViewSet(viewsets.GenericViewSet):
    """Base for tenant-owned resources: the queryset comes from the model's scoped manager,
    so another tenant's rows cannot be listed or fetched (they are simply not found)."""

    model: type[TenantOwnedModel]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the types
            return self.model.unscoped.none()
        return self.model.objects.all()


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "role", "created_at"]


class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Members of the current tenant."""

    model = Membership
    serializer_class = MemberSerializer

    def get_queryset(self):
        return super().get_queryset().select_related("user")


class KeyInfoSerializer(serializers.Serializer):
    name = serializers.CharField()
    role = serializers.ChoiceField(TenantRole.choices, help_text="The key's own role; `role` "
                                   "above is what it acts with (at most its creator's).")
    scopes = serializers.ListField(child=serializers.ChoiceField(KeyScope.choices),
                                   help_text="Empty: everything the role allows.")
    expires_at = serializers.DateTimeField(allow_null=True)


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    tenant = serializers.CharField()
    tenant_slug = serializers.SlugField()
    tenant_status = serializers.CharField()
    role = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())
    api_key = KeyInfoSerializer(allow_null=True, help_text="The key calling; null for a "
                                "signed-in member.")


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
def me(request: Request) -> Response:
    """Who is calling, for which tenant, and what they may do."""
    tenant = request._request.tenant
    role = request._request.tenant_role
    allowed = [p.value for p in TenantPermission if tenant_role_allows(role, tenant.is_active, p)]
    data = {"email": request.user.email, "tenant": tenant.name, "tenant_slug": tenant.slug,
            "tenant_status": tenant.status, "role": role, "permissions": allowed,
            "api_key": request._request.api_key}
    return Response(MeSerializer(data).data)
