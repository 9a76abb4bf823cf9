from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from portal.admin_site import TenantOwnedAdmin
from stores.models import Store, StoreStatusChange


@admin.register(Store)
class StoreAdmin(TenantOwnedAdmin):
    """Stores of every tenant. The access token is never shown (nor editable) here."""

    list_display = ["display_name", "tenant", "site_code", "shop_id", "status",
                    "token_expires_at", "last_synced_at", "last_error_code"]
    list_filter = ["status", "site_code", ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["display_name", "shop_id", "tenant__name"]
    list_select_related = ["tenant"]
    exclude = ["access_token"]
    readonly_fields = ["tenant", "site_code", "shop_id", "token_expires_at", "token_scopes",
                       "authorized_at", "status", "last_error_code", "last_error_message",
                       "last_error_at", "last_synced_at", "expiry_warning_sent_at",
                       "created_by", "created_at", "archived_at", "archived_by",
                       "status_history"]

    # Stores are added by sellers with an authorization code, never typed in here.
    def has_add_permission(self, request):
        return False

    @admin.display(description=_("Status history"))
    def status_history(self, store: Store) -> str:
        changes = (StoreStatusChange.unscoped.filter(store=store)
                   .select_related("changed_by")[:50])
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                                "</tr>", (
            (c.changed_at.strftime("%Y-%m-%d %H:%M"), c.get_from_status_display() or "—",
             c.get_to_status_display(), f"{c.error_code} {c.note_text}".strip(),
             c.changed_by or "—") for c in changes))
        return format_html("<table>{}</table>", rows) if changes else "—"
