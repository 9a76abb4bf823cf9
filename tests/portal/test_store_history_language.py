"""A store's status history is stored as codes with parameters and shown in each reader's
language: an English-speaking owner's "Authorized" no longer reads "Authorized" in Chinese."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils import translation

from stores import services
from stores.models import StoreStatusChange, status_note
from tenants.scope import tenant_scope
from tests.conftest import client_for


def test_a_reason_written_in_english_reads_in_chinese(world_a):
    with tenant_scope(world_a.tenant), translation.override("en"):
        services.set_status(world_a.store, "stale", by=None,
                            note=status_note("stale_sync", hours=48))
        services.set_status(world_a.store, "connected", by=world_a.owner,
                            note=status_note("reauthorized"))
    notes = list(StoreStatusChange.unscoped.filter(store=world_a.store)
                 .values_list("note", flat=True))
    assert all("Re-authorized" not in note for note in notes)  # stored as codes
    client = client_for(world_a.owner, world_a.tenant)
    page = client.get(reverse("store_detail", args=[world_a.store.pk])).content.decode()
    assert "48 小时内没有成功同步" in page or "48 小时" in page
    assert "Re-authorized" not in page and '"code"' not in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get(reverse("store_detail", args=[world_a.store.pk])).content.decode()
    assert "No successful sync within 48 hours." in english and "Re-authorized" in english


def test_old_rows_with_text_are_shown_as_they_are(world_a):
    with tenant_scope(world_a.tenant):
        change = StoreStatusChange.objects.create(store=world_a.store, from_status="connected",
                                                  to_status="revoked", note="已撤销授权")
    assert change.note_text == "已撤销授权"
