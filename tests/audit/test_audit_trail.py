import pytest
from django.db.models import ProtectedError

from audit.models import AuditEvent
from audit.services import record
from tenants import services
from tenants.models import Invitation
from tenants.roles import TenantRole
from tenants.scope import tenant_scope


@pytest.fixture
def event(tenant_a, owner_a):
    return record(AuditEvent.Action.COMPANY_UPDATED, tenant=tenant_a, actor=owner_a, target="x")


def test_bulk_update_and_delete_are_refused(event, tenant_a):
    with pytest.raises(ValueError, match="immutable"):
        AuditEvent.unscoped.filter(pk=event.pk).update(target="changed")
    with pytest.raises(ValueError, match="immutable"):
        AuditEvent.unscoped.filter(pk=event.pk).delete()
    with tenant_scope(tenant_a), pytest.raises(ValueError, match="immutable"):
        AuditEvent.objects.all().delete()
    event.refresh_from_db()
    assert event.target == "x"


def test_a_tenant_with_a_trail_cannot_be_deleted(event, tenant_a):
    with pytest.raises(ProtectedError):
        tenant_a.delete()
    assert AuditEvent.unscoped.filter(pk=event.pk).exists()


def test_re_inviting_records_the_withdrawal_of_the_previous_invitation(tenant_a, owner_a):
    with tenant_scope(tenant_a):
        first = services.invite_member(tenant=tenant_a, email="new@example.com",
                                       role=TenantRole.VIEWER, by=owner_a).invitation
        services.invite_member(tenant=tenant_a, email="new@example.com",
                               role=TenantRole.REVIEWER, by=owner_a)
        first.refresh_from_db()
        assert first.status == Invitation.Status.REVOKED
        actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions.count(AuditEvent.Action.INVITATION_REVOKED) == 1
    assert actions.count(AuditEvent.Action.MEMBER_INVITED) == 2


def test_a_user_with_a_trail_is_kept_and_one_without_can_be_deleted(event, owner_a, owner_b):
    with pytest.raises(ProtectedError):
        owner_a.delete()
    owner_b.delete()  # no trail: nothing to protect
