"""Tenant scoping (tenants/scope.py) and the tenant_task decorator (tenants/background.py)."""

from __future__ import annotations

import threading

import pytest
from django.apps import apps
from django.utils import timezone

from audit.models import AuditEvent
from tenants.background import tenant_task
from tenants.models import ApiKey, Invitation, Membership, Tenant
from tenants.roles import TenantRole
from tenants.scope import (
    TenantOwnedModel,
    TenantScopeError,
    current_tenant,
    require_tenant,
    tenant_scope,
)
from tests.conftest import add_member

TENANT_OWNED_MODELS = sorted(
    (m for m in apps.get_models() if issubclass(m, TenantOwnedModel)),
    key=lambda m: m._meta.label,
)


def test_the_tenancy_models_are_all_tenant_owned():
    labels = {m._meta.label for m in TENANT_OWNED_MODELS}
    assert {"tenants.Membership", "tenants.Invitation", "tenants.ApiKey",
            "tenants.VerificationDocument", "audit.AuditEvent"} <= labels


# Unscoped queries fail loudly ------------------------------------------------------------

@pytest.mark.parametrize("model", TENANT_OWNED_MODELS, ids=lambda m: m._meta.label)
def test_unscoped_query_on_every_tenant_owned_model_raises(db, model):
    assert current_tenant() is None
    with pytest.raises(TenantScopeError):
        list(model.objects.all())
    with pytest.raises(TenantScopeError):
        model.objects.count()
    with pytest.raises(TenantScopeError):
        model.objects.filter(pk=1).exists()


def test_unscoped_get_raises_even_for_an_existing_row(tenant_a, owner_a):
    membership = Membership.unscoped.get(user=owner_a)
    with pytest.raises(TenantScopeError):
        Membership.objects.get(pk=membership.pk)


def test_require_tenant_outside_a_scope_raises_with_a_helpful_message(db):
    with pytest.raises(TenantScopeError, match="tenant_scope"):
        require_tenant()


def test_an_explicit_empty_scope_is_still_unscoped(tenant_a, owner_a):
    with tenant_scope(tenant_a), tenant_scope(None), pytest.raises(TenantScopeError):
        list(Membership.objects.all())


# Scoped queries see only their tenant ----------------------------------------------------

def test_scoped_queries_see_only_their_own_tenant(tenant_a, tenant_b, owner_a, owner_b):
    viewer_a = add_member(tenant_a, TenantRole.VIEWER)
    with tenant_scope(tenant_a):
        assert {m.user for m in Membership.objects.all()} == {owner_a, viewer_a}
        assert Membership.objects.count() == 2
        assert not Membership.objects.filter(user=owner_b).exists()
    with tenant_scope(tenant_b):
        assert [m.user for m in Membership.objects.all()] == [owner_b]


def test_another_tenants_row_is_not_found_by_pk_inside_a_scope(tenant_a, tenant_b, owner_b):
    membership_b = Membership.unscoped.get(user=owner_b)
    with tenant_scope(tenant_a), pytest.raises(Membership.DoesNotExist):
        Membership.objects.get(pk=membership_b.pk)


def test_related_managers_are_scoped_too(tenant_a, tenant_b, owner_a, owner_b):
    with tenant_scope(tenant_a):
        assert list(tenant_a.membership_set.all()) == [Membership.unscoped.get(user=owner_a)]
        # Following a relation into another tenant does not leak its rows.
        assert list(tenant_b.membership_set.all()) == []
        assert list(owner_b.memberships.all()) == []
    with pytest.raises(TenantScopeError):
        list(owner_a.memberships.all())


def test_scopes_nest_and_restore_even_after_an_error(tenant_a, tenant_b):
    with tenant_scope(tenant_a):
        with tenant_scope(tenant_b):
            assert current_tenant() == tenant_b
        assert current_tenant() == tenant_a
        with pytest.raises(ZeroDivisionError), tenant_scope(tenant_b):
            1 / 0  # noqa: B018
        assert current_tenant() == tenant_a
    assert current_tenant() is None


def test_a_scope_does_not_leak_into_other_threads(tenant_a):
    seen: list = []
    with tenant_scope(tenant_a):
        thread = threading.Thread(target=lambda: seen.append(current_tenant()))
        thread.start()
        thread.join(5)
    assert seen == [None]


# Writes -----------------------------------------------------------------------------------

def test_a_row_created_inside_a_scope_takes_that_tenant(tenant_a, owner_a):
    with tenant_scope(tenant_a):
        event = AuditEvent.objects.create(action=AuditEvent.Action.COMPANY_UPDATED,
                                          actor=owner_a)
        invitation = Invitation(email="new@example.com", role=TenantRole.VIEWER,
                                token_hash="a" * 64, invited_by=owner_a,
                                expires_at=timezone.now())
        invitation.save()
    assert AuditEvent.unscoped.get(pk=event.pk).tenant_id == tenant_a.pk
    assert Invitation.unscoped.get(pk=invitation.pk).tenant_id == tenant_a.pk


def test_creating_a_row_without_tenant_outside_a_scope_raises(tenant_a, owner_a):
    with pytest.raises(TenantScopeError):
        AuditEvent.objects.create(action=AuditEvent.Action.COMPANY_UPDATED, actor=owner_a)
    assert AuditEvent.unscoped.count() == 0


def test_saving_another_tenants_row_inside_a_scope_raises(tenant_a, tenant_b, owner_b):
    membership_b = Membership.unscoped.get(user=owner_b)
    with tenant_scope(tenant_a):
        membership_b.role = TenantRole.VIEWER
        with pytest.raises(TenantScopeError):
            membership_b.save()
    assert Membership.unscoped.get(pk=membership_b.pk).role == TenantRole.OWNER


def test_creating_a_row_for_another_tenant_inside_a_scope_raises(tenant_a, tenant_b, owner_a):
    with tenant_scope(tenant_a), pytest.raises(TenantScopeError):
        ApiKey.objects.create(tenant=tenant_b, name="smuggled", prefix="abc123",
                              key_hash="0" * 64, created_by=owner_a)
    assert not ApiKey.unscoped.exists()


def test_saving_a_row_of_the_tenant_in_scope_works(tenant_a, owner_a):
    membership = Membership.unscoped.get(user=owner_a)
    with tenant_scope(tenant_a):
        membership.role = TenantRole.OPERATOR
        membership.save()
    assert Membership.unscoped.get(pk=membership.pk).role == TenantRole.OPERATOR


# Model.unscoped crosses tenants on purpose -----------------------------------------------

def test_unscoped_manager_crosses_tenants_deliberately(tenant_a, tenant_b, owner_a, owner_b):
    everyone = {m.user for m in Membership.unscoped.all()}
    assert everyone == {owner_a, owner_b}
    with tenant_scope(tenant_a):
        # Even inside a scope, `unscoped` is the explicit way to see every tenant.
        assert {m.user for m in Membership.unscoped.all()} == {owner_a, owner_b}
        assert Membership.objects.count() == 1


def test_unscoped_writes_with_an_explicit_tenant_work_outside_a_scope(tenant_b, owner_b):
    event = AuditEvent.unscoped.create(tenant=tenant_b, actor=owner_b,
                                       action=AuditEvent.Action.COMPANY_UPDATED)
    assert event.tenant_id == tenant_b.pk


# tenant_task: Celery tasks receive the tenant id and run in its scope --------------------

@tenant_task()
def _collect_scope(tenant: Tenant, label: str) -> dict:
    return {
        "tenant_arg": tenant.pk,
        "in_scope": current_tenant().pk,
        "member_emails": sorted(m.user.email for m in Membership.objects.all()),
        "label": label,
    }


def test_tenant_task_is_registered_under_the_functions_dotted_name():
    assert _collect_scope.name == f"{__name__}._collect_scope"


def test_tenant_task_runs_the_body_inside_the_tenants_scope(tenant_a, tenant_b, owner_a,
                                                            owner_b):
    # apply() runs the real Celery task machinery in-process, with JSON-able arguments.
    result = _collect_scope.apply(args=[tenant_a.pk, "hello"]).get()
    assert result == {"tenant_arg": tenant_a.pk, "in_scope": tenant_a.pk,
                      "member_emails": [owner_a.email], "label": "hello"}
    result_b = _collect_scope.apply(args=[tenant_b.pk], kwargs={"label": "b"}).get()
    assert result_b["member_emails"] == [owner_b.email]
    # The scope ends with the task.
    assert current_tenant() is None


def test_tenant_task_overrides_the_callers_scope(tenant_a, tenant_b, owner_b):
    with tenant_scope(tenant_a):
        result = _collect_scope(tenant_b.pk, "direct call")
        assert current_tenant() == tenant_a
    assert result["in_scope"] == tenant_b.pk
    assert result["member_emails"] == [owner_b.email]


def test_tenant_task_for_a_missing_tenant_fails(db):
    with pytest.raises(Tenant.DoesNotExist):
        _collect_scope(987654321, "nobody")
