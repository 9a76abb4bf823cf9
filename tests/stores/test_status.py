"""Store status, history and health, and what the catalog sync reports (no marketplace)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from marketplaces.connectors import MarketplaceError
from stores import services
from stores.models import Store, StoreStatusChange
from tenants.scope import tenant_scope
from tests.stores.conftest import make_store, reload

Status = Store.Status


def history(store: Store) -> list[tuple[str, str, str]]:
    return list(StoreStatusChange.unscoped.filter(store=store).order_by("id")
                .values_list("from_status", "to_status", "error_code"))


def test_set_status_records_history_only_when_it_changes(store_a, owner_a):
    with tenant_scope(store_a.tenant):
        assert services.set_status(store_a, Status.SYNCING, note="sync started", by=owner_a)
        assert not services.set_status(store_a, Status.SYNCING)
        assert services.set_status(store_a, Status.HEALTHY)
    assert reload(store_a).status == Status.HEALTHY
    assert history(store_a) == [("connected", "syncing", ""), ("syncing", "healthy", "")]
    first = StoreStatusChange.unscoped.filter(store=store_a).order_by("id").first()
    assert first.note == "sync started" and first.changed_by == owner_a
    assert first.tenant_id == store_a.tenant_id


def test_set_status_reads_the_current_status_from_the_database(store_a):
    """A stale in-memory copy does not write a false "from" status or a duplicate change."""
    stale_copy = reload(store_a)
    with tenant_scope(store_a.tenant):
        services.set_status(store_a, Status.SYNCING)
        assert not services.set_status(stale_copy, Status.SYNCING)
        services.set_status(stale_copy, Status.HEALTHY)
    assert history(store_a) == [("connected", "syncing", ""), ("syncing", "healthy", "")]


def test_set_status_refuses_an_unknown_status(store_a):
    with tenant_scope(store_a.tenant), pytest.raises(ValueError):
        services.set_status(store_a, "sleeping")


@pytest.mark.parametrize("code, status", [
    ("ERR_TEMU_403", Status.PERMISSION_DENIED),
    ("ERR_TOKEN_EXPIRED", Status.TOKEN_EXPIRED),
    ("ERR_IP_NOT_WHITELISTED", Status.IP_NOT_WHITELISTED),
    ("ERR_MARKETPLACE_UNAVAILABLE", Status.ERROR),
    ("ERR_DAILY_REQUEST_BUDGET", Status.ERROR),
    ("ERR_SOMETHING_NEW", Status.ERROR),
])
def test_marketplace_errors_map_to_store_statuses(store_a, code, status):
    error = MarketplaceError(code, "gateway said no", request_id="req-1")
    with tenant_scope(store_a.tenant):
        assert services.apply_marketplace_error(store_a, error) == status
    store = reload(store_a)
    assert store.status == status
    assert (store.last_error_code, store.last_error_message) == (code, "gateway said no")
    assert store.last_error_at is not None
    assert history(store_a) == [("connected", status, code)]


def test_a_revoked_store_stays_revoked_on_errors(store_a, owner_a):
    with tenant_scope(store_a.tenant):
        services.revoke_store(store_a, by=owner_a)
        services.apply_marketplace_error(store_a, MarketplaceError("ERR_TEMU_403", "no"))
    store = reload(store_a)
    assert store.status == Status.REVOKED and store.last_error_code == "ERR_TEMU_403"


def test_sync_lifecycle_syncing_then_healthy_clears_the_error(store_a):
    with tenant_scope(store_a.tenant):
        services.apply_marketplace_error(store_a, MarketplaceError("ERR_MARKETPLACE_UNAVAILABLE"))
        services.mark_syncing(store_a)
        assert reload(store_a).status == Status.SYNCING
        services.mark_synced(store_a)
    store = reload(store_a)
    assert store.status == Status.HEALTHY
    assert store.last_synced_at is not None and store.last_error_code == ""
    assert [h[1] for h in history(store_a)] == ["error", "syncing", "healthy"]


def test_mark_syncing_refuses_a_store_without_a_usable_token(store_a, owner_a, tenant_a):
    with tenant_scope(tenant_a):
        services.revoke_store(store_a, by=owner_a)
        with pytest.raises(services.StoreError) as refused:
            services.mark_syncing(store_a)
    assert refused.value.code == "store_not_authorized"
    expired = make_store(tenant_a, owner_a, shop_id="S-2",
                         token_expires_at=timezone.now() - timedelta(minutes=1))
    with (tenant_scope(tenant_a), translation.override("en"),
          pytest.raises(services.StoreError) as refused):
        services.mark_syncing(expired)
    assert refused.value.code == "ERR_TOKEN_EXPIRED"
    assert "re-authorize" in refused.value.message
    assert reload(expired).status == Status.TOKEN_EXPIRED


# Health --------------------------------------------------------------------------------------

@pytest.fixture
def stale_hours(settings):
    settings.STORE_STALE_AFTER_HOURS = 24
    return 24


def test_health_healthy_when_the_last_sync_is_recent(store_a, stale_hours):
    now = timezone.now()
    store_a.last_synced_at = now - timedelta(hours=stale_hours - 1)
    assert services.health_of(store_a, now) == Status.HEALTHY
    store_a.last_synced_at = now - timedelta(hours=stale_hours + 1)
    assert services.health_of(store_a, now) == Status.STALE


def test_health_of_a_new_store_that_never_synced(store_a, stale_hours):
    now = timezone.now()
    store_a.authorized_at = now - timedelta(hours=1)
    assert services.health_of(store_a, now) == Status.CONNECTED
    store_a.authorized_at = now - timedelta(hours=stale_hours + 1)
    assert services.health_of(store_a, now) == Status.STALE


def test_health_token_expired_beats_everything_but_revoked(store_a, stale_hours):
    now = timezone.now()
    store_a.token_expires_at = now - timedelta(seconds=1)
    store_a.last_synced_at = now
    for status in (Status.HEALTHY, Status.STALE, Status.PERMISSION_DENIED, Status.ERROR):
        store_a.status = status
        assert services.health_of(store_a, now) == Status.TOKEN_EXPIRED
    store_a.status = Status.REVOKED
    assert services.health_of(store_a, now) == Status.REVOKED


def test_health_leaves_error_states_to_the_next_sync(store_a, stale_hours):
    now = timezone.now()
    for status in (Status.PERMISSION_DENIED, Status.IP_NOT_WHITELISTED, Status.ERROR):
        store_a.status = status
        assert services.health_of(store_a, now) == status


def test_refresh_health_writes_the_change_with_a_reason(store_a, stale_hours):
    store_a.authorized_at = timezone.now() - timedelta(hours=stale_hours + 2)
    store_a.save(update_fields=["authorized_at"])
    with tenant_scope(store_a.tenant):
        assert services.refresh_health(store_a)
        assert not services.refresh_health(store_a)
    change = StoreStatusChange.unscoped.get(store=store_a)
    assert (change.from_status, change.to_status) == ("connected", "stale")
    assert "24" in change.note
