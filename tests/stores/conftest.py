"""Fixtures for the store tests: stores created directly (no marketplace involved) and members
of every role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from stores.models import Store
from tenants.models import Tenant, User
from tenants.roles import TenantRole
from tenants.scope import tenant_scope
from tests.conftest import add_member

TOKEN = "plain-token-3a9f-never-in-a-dump"


def make_store(tenant: Tenant, by: User, **fields) -> Store:
    """A connected Temu US store with a token valid for 30 days, unless told otherwise."""
    now = timezone.now()
    values = {
        "site_code": "temu-us", "display_name": "Alpha Temu Shop", "shop_id": "S-100",
        "access_token": TOKEN, "token_expires_at": now + timedelta(days=30),
        "token_scopes": ["bg.local.goods.list.query"], "authorized_at": now,
        "status": Store.Status.CONNECTED, "created_by": by,
    }
    values.update(fields)
    with tenant_scope(tenant):
        return Store.objects.create(**values)


@pytest.fixture
def store_a(tenant_a, owner_a) -> Store:
    return make_store(tenant_a, owner_a)


@pytest.fixture
def operator_a(tenant_a) -> User:
    return add_member(tenant_a, TenantRole.OPERATOR)


@pytest.fixture
def reviewer_a(tenant_a) -> User:
    return add_member(tenant_a, TenantRole.REVIEWER)


@pytest.fixture
def viewer_a(tenant_a) -> User:
    return add_member(tenant_a, TenantRole.VIEWER)


def reload(store: Store) -> Store:
    return Store.unscoped.get(pk=store.pk)
