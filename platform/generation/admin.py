"""Generation in the Django admin: model nodes (API key write-only), the prompt library and
the ISV's banned words for platform admins; jobs, items, request logs and the tenants' own
banned words read-only. The console pages (/console/) are the everyday tools."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from generation.console_forms import ModelNodeForm
from generation.models import (
    BannedWord,
    BrandVoice,
    GenerationItem,
    GenerationJob,
    InstructionSet,
    InstructionVersion,
    ModelNode,
    ModelRequestLog,
    TenantBannedWord,
)
from portal.admin_site import (
    ReadOnlyMixin,
    StaffModelAdmin,
    TenantOwnedAdmin,
    can_change_in_admin,
)


@admin.register(ModelNode)
class ModelNodeAdmin(StaffModelAdmin):
    form = ModelNodeForm
    list_display = ["name", "model_name", "role", "priority", "max_concurrency", "enabled",
                    "has_api_key"]
    list_filter = ["role", "enabled", "supports_vision"]
    search_fields = ["name", "model_name", "base_url"]

    def get_fields(self, request, obj=None):
        """Read-only viewers (support) would see the key in clear: leave it out for them."""
        fields = list(super().get_fields(request, obj))
        return fields if can_change_in_admin(request) else [f for f in fields if f != "api_key"]

    @admin.display(description=_("API key stored"), boolean=True)
    def has_api_key(self, node: ModelNode) -> bool:
        return bool(node.api_key)


class InstructionVersionInline(admin.TabularInline):
    model = InstructionVersion
    fields = ["number", "status", "change_note", "created_by", "created_at", "published_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(InstructionSet)
class InstructionSetAdmin(StaffModelAdmin):
    list_display = ["name", "marketplace", "kind", "category"]
    list_filter = ["marketplace", "kind"]
    search_fields = ["name", "category"]
    inlines = [InstructionVersionInline]


@admin.register(InstructionVersion)
class InstructionVersionAdmin(StaffModelAdmin):
    """Versions change through the console (draft, publish, retire): read-only here."""

    list_display = ["instruction_set", "number", "status", "change_note", "published_at"]
    list_filter = ["status", "instruction_set__marketplace", "instruction_set__kind"]
    readonly_fields = ["instruction_set", "number", "status", "created_by", "created_at",
                       "published_by", "published_at", "text", "strict_text", "change_note"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(BannedWord)
class BannedWordAdmin(StaffModelAdmin):
    list_display = ["term", "marketplace", "language", "reason", "created_at"]
    list_filter = ["marketplace", "language"]
    search_fields = ["term", "reason"]
    exclude = ["created_by"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(TenantBannedWord)
class TenantBannedWordAdmin(ReadOnlyMixin, TenantOwnedAdmin):
    list_display = ["term", "tenant", "marketplace", "language"]
    list_filter = ["marketplace", "language"]
    search_fields = ["term", "tenant__name"]


@admin.register(BrandVoice)
class BrandVoiceAdmin(ReadOnlyMixin, TenantOwnedAdmin):
    list_display = ["tenant", "updated_at"]


@admin.register(GenerationJob)
class GenerationJobAdmin(ReadOnlyMixin, TenantOwnedAdmin):
    list_display = ["id", "tenant", "store", "status", "items_total", "items_succeeded",
                    "items_failed", "created_at"]
    list_filter = ["status"]
    search_fields = ["tenant__name", "store__display_name"]
    list_select_related = ["tenant", "store"]


@admin.register(GenerationItem)
class GenerationItemAdmin(ReadOnlyMixin, TenantOwnedAdmin):
    list_display = ["id", "job", "tenant", "kind", "language", "status", "error_code"]
    list_filter = ["status", "kind", "language"]
    search_fields = ["error_code", "tenant__name"]
    list_select_related = ["job", "tenant"]
    show_full_result_count = False


@admin.register(ModelRequestLog)
class ModelRequestLogAdmin(ReadOnlyMixin, TenantOwnedAdmin):
    list_display = ["started_at", "tenant", "node_name", "attempt", "latency_ms", "cost",
                    "error_code", "provider_request_id"]
    list_filter = ["error_code", "purpose"]
    search_fields = ["provider_request_id", "error_code"]
    list_select_related = ["tenant"]
    show_full_result_count = False
