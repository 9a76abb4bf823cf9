import pytest

from tenants.models import Membership
from tenants.scope import TenantScopeError, tenant_scope


def test_unscoped_query_on_tenant_owned_model_raises(owner_a):
    with pytest.raises(TenantScopeError):
        list(Membership.objects.all())


def test_scope_sees_only_its_own_rows(tenant_a, tenant_b, owner_a, owner_b):
    with tenant_scope(tenant_a):
        assert [m.user for m in Membership.objects.all()] == [owner_a]
    with tenant_scope(tenant_b):
        assert [m.user for m in Membership.objects.all()] == [owner_b]
