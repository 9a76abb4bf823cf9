"""Catalog fixtures: stores connected to the marketplace sandbox through the real
authorization flow (a seller-center code exchanged over HTTP), and a helper that makes the
sandbox fail on a chosen request."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from catalog import services
from catalog.models import Product, SyncRun
from sandbox import shops
from stores import services as store_services
from stores.models import Store
from tenants.models import Tenant, User
from tenants.scope import tenant_scope


def connect_store(sandbox, tenant: Tenant, owner: User, shop_id: str) -> Store:
    """Authorize the sandbox shop for the tenant the way a seller does: code from the seller
    center, exchanged by the platform."""
    code = sandbox.state.issue_code(shop_id)
    with tenant_scope(tenant):
        return store_services.add_store(tenant=tenant, site_code=shops.SHOPS[shop_id].site,
                                        authorization_code=code, by=owner)


def sync(store: Store, **kwargs) -> SyncRun:
    with tenant_scope(store.tenant):
        return services.sync_store(store, **kwargs)


def products_of(store: Store) -> list[Product]:
    return list(Product.unscoped.filter(store=store).order_by("marketplace_id"))


def fail_on_goods_request(sandbox, monkeypatch, kind: str, number: int, count: int = 1) -> None:
    """Make the sandbox answer its `number`-th goods-list request (1-based, counted from now)
    with the failure `kind` (and the next count-1 ones too): a failure in the middle of a sync.
    The failure itself is the sandbox's own (see sandbox.state.FAILURE_KINDS)."""
    state = sandbox.state
    original = state.take_failure
    seen = {"calls": 0}

    def take_failure(marketplace: str) -> str | None:
        seen["calls"] += 1
        if number <= seen["calls"] < number + count:
            return kind
        return original(marketplace)

    monkeypatch.setattr(state, "take_failure", take_failure)


@pytest.fixture
def store_300(sandbox, tenant_a, owner_a) -> Store:
    return connect_store(sandbox, tenant_a, owner_a, shops.TEMU_SHOP_300)


@pytest.fixture
def store_5000(sandbox, tenant_a, owner_a) -> Store:
    return connect_store(sandbox, tenant_a, owner_a, shops.TEMU_SHOP_5000)


@pytest.fixture
def store_over_limit(sandbox, tenant_a, owner_a) -> Store:
    return connect_store(sandbox, tenant_a, owner_a, shops.TEMU_SHOP_OVER_LIMIT)


@pytest.fixture
def synced_300(store_300) -> Store:
    run = sync(store_300)
    assert run.status == SyncRun.Status.SUCCEEDED, (run.error_code, run.error_message)
    return store_300


SyncFn = Callable[..., SyncRun]
