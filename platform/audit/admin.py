from django.contrib import admin

from audit.models import AuditEvent
from portal.admin_site import TenantOwnedAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(TenantOwnedAdmin):
    list_display = ["created_at", "tenant", "actor", "action", "target"]
    list_filter = ["action"]
    search_fields = ["target", "actor__email", "tenant__name"]

    # The trail is read-only, for everyone.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
