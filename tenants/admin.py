from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _

from portal.admin_site import StaffModelAdmin, TenantOwnedAdmin, in_tenant_scope
from tenants.models import ApiKey, Invitation, Membership, Tenant, User, VerificationDocument


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]

    def get_queryset(self, request):
        return Membership.unscoped.select_related("user")


@admin.register(Tenant)
class TenantAdmin(StaffModelAdmin):
    list_display = ["name", "slug", "status", "time_zone", "verified_at", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "slug", "licence_number", "legal_representative"]
    # Verification goes through the console (tenants.services), which e-mails the owners.
    readonly_fields = ["verified_by", "verified_at", "verified_values", "fields_to_verify",
                       "created_at"]
    inlines = [MembershipInline]

    def get_inlines(self, request, obj):
        # Members are added once the tenant exists: their rows belong to its scope.
        return self.inlines if obj is not None else []

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        tenant = self.get_object(request, unquote(object_id)) if object_id else None
        return in_tenant_scope(tenant, lambda: super(TenantAdmin, self).changeform_view(
            request, object_id, form_url, extra_context))


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ["email", "staff_role"]


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(StaffModelAdmin, DjangoUserAdmin):
    add_form = UserCreationForm
    form = UserEditForm
    ordering = ["email"]
    list_display = ["email", "name", "staff_role", "is_active", "last_login"]
    list_filter = ["staff_role", "is_active"]
    search_fields = ["email", "name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Personal info"), {"fields": ["name"]}),
        (_("ISV staff"), {"fields": ["staff_role", "is_active", "is_staff", "is_superuser"]}),
        (_("Important dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"],
                             "fields": ["email", "staff_role", "usable_password",
                                        "password1", "password2"]})]


@admin.register(Membership)
class MembershipAdmin(TenantOwnedAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]


@admin.register(Invitation)
class InvitationAdmin(TenantOwnedAdmin):
    list_display = ["email", "tenant", "role", "status", "expires_at"]
    list_filter = ["status"]
    search_fields = ["email", "tenant__name"]
    exclude = ["token_hash"]


@admin.register(ApiKey)
class ApiKeyAdmin(TenantOwnedAdmin):
    list_display = ["name", "tenant", "prefix", "role", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix", "tenant__name"]
    exclude = ["key_hash"]


@admin.register(VerificationDocument)
class VerificationDocumentAdmin(TenantOwnedAdmin):
    list_display = ["tenant", "kind", "uploaded_by", "uploaded_at"]
