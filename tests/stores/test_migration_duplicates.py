"""Migration stores.0004: a shop connected twice under two sites of one marketplace (possible
before the site check) keeps its most recently authorized store; the other is revoked and
archived, with a note, and nothing is deleted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("stores", "0003_store_health_schedule")]
AFTER = [("stores", "0004_archive_and_one_store_per_shop")]


@pytest.mark.django_db(transaction=True)
def test_duplicates_are_archived_before_the_constraint(tenant_a, owner_a):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    Store = apps.get_model("stores", "Store")
    now = timezone.now()
    common = {"tenant_id": tenant_a.pk, "created_by_id": owner_a.pk, "shop_id": "634418210004",
              "status": "healthy", "access_token": "", "display_name": "Maple"}
    wrong = Store.objects.create(site_code="temu-us", authorized_at=now - timedelta(days=3),
                                 **common)
    right = Store.objects.create(site_code="temu-ca", authorized_at=now, **common)
    other = Store.objects.create(site_code="aliexpress-es", authorized_at=now,
                                 **{**common, "shop_id": "634418210004"})

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    Store = apps.get_model("stores", "Store")
    StoreStatusChange = apps.get_model("stores", "StoreStatusChange")
    kept, archived = Store.objects.get(pk=right.pk), Store.objects.get(pk=wrong.pk)
    assert kept.archived_at is None and kept.status == "healthy"
    assert archived.archived_at is not None and archived.status == "revoked"
    note = StoreStatusChange.objects.get(store_id=wrong.pk).note
    assert f"store #{right.pk}" in note
    assert Store.objects.get(pk=other.pk).archived_at is None  # another marketplace
    assert Store.objects.count() == 3
