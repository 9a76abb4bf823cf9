"""Writes about tenants (tenants/services.py): lifecycle, members, invitations, housekeeping,
and the audit events they leave behind."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone, translation
from django_q.models import Schedule
from django_q.tasks import async_task
from django_q.tasks import result as q_result

from audit.models import AuditEvent
from audit.services import record
from tenants import services
from tenants.models import Invitation, Membership, Tenant
from tenants.roles import StaffRole, TenantRole
from tenants.scope import TenantScopeError, tenant_scope
from tests.conftest import add_member, client_for, create_staff, create_tenant, create_user
from tests.tenants.documents import attach_documents
from tests.tenants.mail_checks import assert_bilingual_invitation

A = AuditEvent.Action


def _events(tenant: Tenant) -> list[AuditEvent]:
    return list(AuditEvent.unscoped.filter(tenant=tenant).order_by("id"))


@pytest.fixture
def pending_tenant(db) -> Tenant:
    tenant = create_tenant("Pending Trading", status=Tenant.Status.PENDING,
                           licence_number="91330000PEND", legal_representative="Zhao")
    attach_documents(tenant)
    return tenant


@pytest.fixture(autouse=True)
def _english():
    """Service messages are asserted in English; the site's default language is Chinese."""
    with translation.override("en"):
        yield


# Tenant lifecycle --------------------------------------------------------------------------

def test_verify_a_pending_tenant(pending_tenant, platform_admin):
    services.verify_tenant(pending_tenant, by=platform_admin)
    pending_tenant.refresh_from_db()
    assert pending_tenant.status == Tenant.Status.ACTIVE
    assert pending_tenant.verified_by == platform_admin
    assert timezone.now() - pending_tenant.verified_at < timedelta(minutes=1)
    [event] = _events(pending_tenant)
    assert (event.action, event.actor, event.target) == (
        A.TENANT_VERIFIED, platform_admin, "Pending Trading")


@pytest.mark.parametrize("missing", ["licence_number", "legal_representative"])
def test_verify_needs_the_licence_and_the_legal_representative(pending_tenant, platform_admin,
                                                               missing):
    setattr(pending_tenant, missing, "")
    pending_tenant.save()
    with pytest.raises(services.TenantError, match="Still missing"):
        services.verify_tenant(pending_tenant, by=platform_admin)
    pending_tenant.refresh_from_db()
    assert pending_tenant.status == Tenant.Status.PENDING
    assert pending_tenant.verified_at is None
    assert _events(pending_tenant) == []


@pytest.mark.parametrize("status", [Tenant.Status.ACTIVE, Tenant.Status.SUSPENDED])
def test_only_a_pending_tenant_can_be_verified(db, platform_admin, status):
    tenant = create_tenant("Done", status=status, licence_number="1", legal_representative="X")
    with pytest.raises(services.TenantError, match="nothing waiting for verification"):
        services.verify_tenant(tenant, by=platform_admin)
    assert _events(tenant) == []


def test_suspend_an_active_tenant_with_a_reason(tenant_a, platform_admin):
    services.suspend_tenant(tenant_a, by=platform_admin, reason="  Unpaid licence fee  ")
    tenant_a.refresh_from_db()
    assert tenant_a.status == Tenant.Status.SUSPENDED
    assert tenant_a.suspension_reason == "Unpaid licence fee"
    [event] = _events(tenant_a)
    assert event.action == A.TENANT_SUSPENDED
    assert event.actor == platform_admin
    assert event.details == {"reason": "Unpaid licence fee"}


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_suspension_needs_a_reason(tenant_a, platform_admin, reason):
    with pytest.raises(services.TenantError, match="reason"):
        services.suspend_tenant(tenant_a, by=platform_admin, reason=reason)
    tenant_a.refresh_from_db()
    assert tenant_a.status == Tenant.Status.ACTIVE
    assert _events(tenant_a) == []


@pytest.mark.parametrize("status", [Tenant.Status.PENDING, Tenant.Status.SUSPENDED])
def test_only_an_active_tenant_can_be_suspended(db, platform_admin, status):
    tenant = create_tenant("Not active", status=status)
    with pytest.raises(services.TenantError, match="active tenant"):
        services.suspend_tenant(tenant, by=platform_admin, reason="why not")
    tenant.refresh_from_db()
    assert tenant.status == status


def test_reactivate_a_suspended_tenant_clears_the_reason(tenant_a, platform_admin):
    services.suspend_tenant(tenant_a, by=platform_admin, reason="Fraud check")
    services.reactivate_tenant(tenant_a, by=platform_admin)
    tenant_a.refresh_from_db()
    assert tenant_a.status == Tenant.Status.ACTIVE
    assert tenant_a.suspension_reason == ""
    assert [e.action for e in _events(tenant_a)] == [A.TENANT_SUSPENDED, A.TENANT_REACTIVATED]


@pytest.mark.parametrize("status", [Tenant.Status.PENDING, Tenant.Status.ACTIVE])
def test_only_a_suspended_tenant_can_be_reactivated(db, platform_admin, status):
    tenant = create_tenant("Not suspended", status=status)
    with pytest.raises(services.TenantError, match="suspended tenant"):
        services.reactivate_tenant(tenant, by=platform_admin)
    tenant.refresh_from_db()
    assert tenant.status == status


def test_console_lifecycle_actions_go_through_the_services(pending_tenant, platform_admin):
    client = client_for(platform_admin)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    base = f"/console/tenants/{pending_tenant.slug}"
    assert client.post(f"{base}/verify/").status_code == 302
    response = client.post(f"{base}/suspend/", {"reason": ""}, follow=True)
    pending_tenant.refresh_from_db()
    assert pending_tenant.status == Tenant.Status.ACTIVE  # refused: no reason
    assert any("reason" in str(m) for m in response.context["messages"])
    client.post(f"{base}/suspend/", {"reason": "Counterfeit goods"})
    pending_tenant.refresh_from_db()
    assert pending_tenant.status == Tenant.Status.SUSPENDED
    client.post(f"{base}/reactivate/")
    pending_tenant.refresh_from_db()
    assert pending_tenant.status == Tenant.Status.ACTIVE
    assert client.post(f"{base}/explode/").status_code == 404
    assert [e.action for e in _events(pending_tenant)] == [
        A.TENANT_VERIFIED, A.TENANT_SUSPENDED, A.TENANT_REACTIVATED]
    # The tenant's detail page shows the audit trail to staff.
    page = client.get(f"{base}/").content.decode()
    for label in ("Tenant verified", "Tenant suspended", "Tenant reactivated"):
        assert label in page


def test_update_company_validates_and_records(tenant_a, owner_a):
    services.update_company(tenant_a, by=owner_a, name="Alpha Trading Ltd", time_zone="UTC")
    tenant_a.refresh_from_db()
    assert (tenant_a.name, tenant_a.time_zone) == ("Alpha Trading Ltd", "UTC")
    [event] = _events(tenant_a)
    assert event.action == A.COMPANY_UPDATED
    assert event.details == {"name": "Alpha Trading Ltd", "time_zone": "UTC"}

    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.update_company(tenant_a, by=owner_a, time_zone="Mars/Olympus_Mons")
    tenant_a.refresh_from_db()
    assert tenant_a.time_zone == "UTC"


def test_create_tenant_makes_the_creator_owner_with_a_unique_slug(db):
    owner = create_user()
    first = services.create_tenant(name="Ningbo Home", owner=owner)
    second = services.create_tenant(name="Ningbo Home", owner=create_user())
    assert first.status == Tenant.Status.PENDING
    assert (first.slug, second.slug) == ("ningbo-home", "ningbo-home-2")
    assert Membership.unscoped.get(tenant=first).user == owner
    assert Membership.unscoped.get(tenant=first).role == TenantRole.OWNER


# The audit trail is immutable ---------------------------------------------------------------

def test_audit_events_cannot_be_changed(tenant_a, owner_a):
    event = record(A.COMPANY_UPDATED, tenant=tenant_a, actor=owner_a, target="Alpha")
    event.target = "rewritten history"
    with pytest.raises(ValueError, match="immutable"):
        event.save()
    assert AuditEvent.unscoped.get(pk=event.pk).target == "Alpha"


def test_audit_events_cannot_be_deleted(tenant_a, owner_a):
    event = record(A.COMPANY_UPDATED, tenant=tenant_a, actor=owner_a)
    with pytest.raises(ValueError, match="immutable"):
        event.delete()
    assert AuditEvent.unscoped.filter(pk=event.pk).exists()


def test_record_truncates_long_targets(tenant_a):
    event = record(A.MEMBER_INVITED, tenant=tenant_a, actor=None, target="x" * 500)
    assert len(AuditEvent.unscoped.get(pk=event.pk).target) == 200


# Members: a company always keeps an owner ----------------------------------------------------

def test_the_last_owner_cannot_be_demoted(tenant_a, tenant_b, owner_a, owner_b):
    membership = Membership.unscoped.get(user=owner_a)
    with tenant_scope(tenant_a), pytest.raises(services.TenantError, match="at least one owner"):
        # tenant_b's owner must not count for tenant_a.
        services.change_role(membership, role=TenantRole.VIEWER, by=owner_a)
    membership.refresh_from_db()
    assert membership.role == TenantRole.OWNER
    assert _events(tenant_a) == []


def test_the_last_owner_cannot_be_removed(tenant_a, owner_a):
    membership = Membership.unscoped.get(user=owner_a)
    add_member(tenant_a, TenantRole.OPERATOR)
    with tenant_scope(tenant_a), pytest.raises(services.TenantError):
        services.remove_member(membership, by=owner_a)
    assert Membership.unscoped.filter(pk=membership.pk).exists()


def test_an_owner_can_step_down_once_there_is_another(tenant_a, owner_a):
    second_owner = add_member(tenant_a, TenantRole.OWNER)
    membership = Membership.unscoped.get(user=owner_a)
    with tenant_scope(tenant_a):
        services.change_role(membership, role=TenantRole.REVIEWER, by=second_owner)
        # Now second_owner is the last one.
        last = Membership.objects.get(user=second_owner)
        with pytest.raises(services.TenantError):
            services.change_role(last, role=TenantRole.VIEWER, by=second_owner)
    membership.refresh_from_db()
    assert membership.role == TenantRole.REVIEWER
    [event] = _events(tenant_a)
    assert event.action == A.MEMBER_ROLE_CHANGED
    assert event.target == owner_a.email
    assert event.details == {"from": TenantRole.OWNER, "to": TenantRole.REVIEWER}


def test_owner_to_owner_and_non_owner_changes_need_no_second_owner(tenant_a, owner_a):
    viewer = add_member(tenant_a, TenantRole.VIEWER)
    with tenant_scope(tenant_a):
        services.change_role(Membership.objects.get(user=owner_a), role=TenantRole.OWNER,
                             by=owner_a)
        services.change_role(Membership.objects.get(user=viewer), role=TenantRole.OPERATOR,
                             by=owner_a)
        assert Membership.objects.get(user=viewer).role == TenantRole.OPERATOR


def test_remove_a_member_records_it(tenant_a, owner_a):
    operator = add_member(tenant_a, TenantRole.OPERATOR)
    with tenant_scope(tenant_a):
        services.remove_member(Membership.objects.get(user=operator), by=owner_a)
        assert not Membership.objects.filter(user=operator).exists()
    [event] = _events(tenant_a)
    assert (event.action, event.target, event.actor) == (A.MEMBER_REMOVED, operator.email,
                                                          owner_a)


def test_last_owner_guard_counts_the_memberships_own_tenant(tenant_a, owner_a, owner_b):
    # tenant B's owner must not count as "another owner" of tenant A.
    membership = Membership.unscoped.get(user=owner_a)
    with pytest.raises(services.TenantError):
        services.change_role(membership, role=TenantRole.VIEWER, by=owner_a)


def test_member_services_refuse_another_tenants_row_inside_a_scope(tenant_a, tenant_b, owner_a,
                                                                  owner_b):
    add_member(tenant_a, TenantRole.OWNER)
    membership = Membership.unscoped.get(user=owner_a)
    with tenant_scope(tenant_b), pytest.raises(TenantScopeError):
        services.remove_member(membership, by=owner_b)
    assert Membership.unscoped.filter(pk=membership.pk).exists()


def test_portal_refuses_to_demote_the_last_owner(tenant_a, owner_a):
    membership = Membership.unscoped.get(user=owner_a)
    client = client_for(owner_a, tenant_a)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = client.post(f"/portal/members/{membership.pk}/role/",
                           {"role": TenantRole.VIEWER}, follow=True)
    assert response.status_code == 200
    assert any("owner" in str(m) for m in response.context["messages"])
    membership.refresh_from_db()
    assert membership.role == TenantRole.OWNER
    response = client.post(f"/portal/members/{membership.pk}/remove/", follow=True)
    assert any("owner" in str(m) for m in response.context["messages"])
    assert Membership.unscoped.filter(pk=membership.pk).exists()


def test_portal_changes_roles_and_removes_members(tenant_a, owner_a):
    operator = add_member(tenant_a, TenantRole.OPERATOR)
    membership = Membership.unscoped.get(user=operator)
    client = client_for(owner_a, tenant_a)
    assert client.post(f"/portal/members/{membership.pk}/role/",
                       {"role": TenantRole.REVIEWER}).status_code == 302
    membership.refresh_from_db()
    assert membership.role == TenantRole.REVIEWER
    assert client.post(f"/portal/members/{membership.pk}/remove/").status_code == 302
    assert not Membership.unscoped.filter(pk=membership.pk).exists()


def test_portal_cannot_touch_another_tenants_member(tenant_a, tenant_b, owner_a, owner_b):
    other = Membership.unscoped.get(user=owner_b)
    client = client_for(owner_a, tenant_a)
    assert client.post(f"/portal/members/{other.pk}/role/",
                       {"role": TenantRole.VIEWER}).status_code == 404
    assert client.post(f"/portal/members/{other.pk}/remove/").status_code == 404
    other.refresh_from_db()
    assert other.role == TenantRole.OWNER


# Invitations --------------------------------------------------------------------------------

def _invite(tenant: Tenant, by, email: str = "new.person@example.com",
            role: str = TenantRole.OPERATOR) -> services.SentInvitation:
    with tenant_scope(tenant):
        return services.invite_member(tenant=tenant, email=email, role=role, by=by)


def test_invite_stores_only_the_hash_and_records_the_event(tenant_a, owner_a):
    sent = _invite(tenant_a, owner_a, email="  New.Person@Example.COM ")
    invitation = Invitation.unscoped.get()
    assert invitation == sent.invitation
    assert invitation.email == "new.person@example.com"
    assert invitation.status == Invitation.Status.PENDING
    assert invitation.tenant == tenant_a
    assert invitation.token_hash == hashlib.sha256(sent.token.encode()).hexdigest()
    assert sent.token not in {invitation.token_hash, invitation.email}
    assert len(sent.token) >= 40
    valid_for = invitation.expires_at - timezone.now()
    assert timedelta(days=6, hours=23) < valid_for <= timedelta(days=7)
    [event] = _events(tenant_a)
    assert (event.action, event.target, event.details) == (
        A.MEMBER_INVITED, "new.person@example.com", {"role": TenantRole.OPERATOR})


def test_invitation_email_goes_out_only_after_commit(tenant_a, owner_a, eager_celery,
                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            sent = _invite(tenant_a, owner_a)
            assert mail.outbox == []  # nothing sent while the transaction is open
        # The test's own outer transaction is still open: still nothing.
        assert mail.outbox == []
    assert len(callbacks) == 1
    [message] = mail.outbox
    assert message.to == ["new.person@example.com"]
    assert_bilingual_invitation(message, token=sent.token, tenant_name=tenant_a.name)


def test_no_email_when_the_transaction_rolls_back(tenant_a, owner_a, eager_celery,
                                                  django_capture_on_commit_callbacks):
    with (django_capture_on_commit_callbacks(execute=True) as callbacks,
          pytest.raises(RuntimeError), transaction.atomic()):
        _invite(tenant_a, owner_a)
        raise RuntimeError("abort")
    assert callbacks == []
    assert mail.outbox == []
    assert not Invitation.unscoped.exists()


def test_the_email_task_skips_an_invitation_withdrawn_before_it_ran(
        tenant_a, owner_a, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = _invite(tenant_a, owner_a)
        second = _invite(tenant_a, owner_a)  # revokes the first before any task ran
    assert len(callbacks) == 2
    [message] = mail.outbox
    assert second.token in message.body
    assert first.token not in message.body


def test_members_page_invites_and_sends_the_email(tenant_a, owner_a, eager_celery,
                                                  django_capture_on_commit_callbacks):
    client = client_for(owner_a, tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/portal/members/", {"email": "buyer@example.com",
                                                    "role": TenantRole.REVIEWER})
    assert response.status_code == 302
    invitation = Invitation.unscoped.get()
    assert (invitation.email, invitation.role, invitation.tenant) == (
        "buyer@example.com", TenantRole.REVIEWER, tenant_a)
    [message] = mail.outbox
    token = re.search(r"/invitations/([\w-]+)/", message.body).group(1)
    assert services.find_invitation(token) == invitation


def test_inviting_an_existing_member_is_refused(tenant_a, owner_a):
    operator = add_member(tenant_a, TenantRole.OPERATOR, email="op@example.com")
    with pytest.raises(services.TenantError, match="already a member"):
        _invite(tenant_a, owner_a, email=operator.email.upper())
    assert not Invitation.unscoped.exists()


def test_a_member_of_another_tenant_can_be_invited(tenant_a, tenant_b, owner_a, owner_b):
    sent = _invite(tenant_a, owner_a, email=owner_b.email)
    assert sent.invitation.tenant == tenant_a


def test_reinviting_revokes_the_previous_pending_invitation(tenant_a, owner_a):
    first = _invite(tenant_a, owner_a, role=TenantRole.VIEWER)
    second = _invite(tenant_a, owner_a, role=TenantRole.REVIEWER)
    first.invitation.refresh_from_db()
    assert first.invitation.status == Invitation.Status.REVOKED
    assert second.invitation.status == Invitation.Status.PENDING
    assert Invitation.unscoped.filter(status=Invitation.Status.PENDING).count() == 1
    user = create_user(email="new.person@example.com")
    with pytest.raises(services.TenantError, match="expired or was withdrawn"):
        services.accept_invitation(services.find_invitation(first.token), user=user)
    membership = services.accept_invitation(services.find_invitation(second.token), user=user)
    assert membership.role == TenantRole.REVIEWER


def test_reinviting_does_not_touch_another_tenants_invitation(tenant_a, tenant_b, owner_a,
                                                              owner_b):
    in_b = _invite(tenant_b, owner_b)
    _invite(tenant_a, owner_a)
    in_b.invitation.refresh_from_db()
    assert in_b.invitation.status == Invitation.Status.PENDING


def test_accept_creates_the_membership_and_records_it(tenant_a, owner_a):
    sent = _invite(tenant_a, owner_a, role=TenantRole.REVIEWER)
    user = create_user(email="New.Person@example.com")
    invitation = services.find_invitation(sent.token)
    membership = services.accept_invitation(invitation, user=user)
    assert (membership.tenant, membership.user, membership.role) == (
        tenant_a, user, TenantRole.REVIEWER)
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.ACCEPTED
    assert invitation.accepted_by == user
    assert invitation.accepted_at is not None
    joined = _events(tenant_a)[-1]
    assert (joined.action, joined.actor, joined.target, joined.details) == (
        A.MEMBER_JOINED, user, user.email, {"role": TenantRole.REVIEWER})
    # The same link cannot be used twice.
    with pytest.raises(services.TenantError):
        services.accept_invitation(services.find_invitation(sent.token), user=user)


def test_accept_with_the_wrong_email_is_refused(tenant_a, owner_a):
    sent = _invite(tenant_a, owner_a)
    stranger = create_user(email="stranger@example.com")
    with pytest.raises(services.TenantError, match="new.person@example.com"):
        services.accept_invitation(services.find_invitation(sent.token), user=stranger)
    assert not Membership.unscoped.filter(user=stranger).exists()
    sent.invitation.refresh_from_db()
    assert sent.invitation.status == Invitation.Status.PENDING


def test_an_expired_invitation_is_refused(tenant_a, owner_a):
    sent = _invite(tenant_a, owner_a)
    Invitation.unscoped.filter(pk=sent.invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    user = create_user(email="new.person@example.com")
    invitation = services.find_invitation(sent.token)
    assert not invitation.is_usable
    with pytest.raises(services.TenantError, match="expired"):
        services.accept_invitation(invitation, user=user)
    assert not Membership.unscoped.filter(user=user).exists()


def test_a_revoked_invitation_is_refused(tenant_a, owner_a):
    sent = _invite(tenant_a, owner_a)
    with tenant_scope(tenant_a):
        services.revoke_invitation(sent.invitation, by=owner_a)
    assert _events(tenant_a)[-1].action == A.INVITATION_REVOKED
    user = create_user(email="new.person@example.com")
    with pytest.raises(services.TenantError):
        services.accept_invitation(services.find_invitation(sent.token), user=user)
    assert not Membership.unscoped.filter(user=user).exists()


def test_revoking_a_used_invitation_changes_nothing(tenant_a, owner_a):
    sent = _invite(tenant_a, owner_a)
    services.accept_invitation(sent.invitation, user=create_user(email="new.person@example.com"))
    events_before = len(_events(tenant_a))
    with tenant_scope(tenant_a):
        services.revoke_invitation(sent.invitation, by=owner_a)
    sent.invitation.refresh_from_db()
    assert sent.invitation.status == Invitation.Status.ACCEPTED
    assert len(_events(tenant_a)) == events_before


def test_portal_revokes_an_invitation_of_its_own_tenant_only(tenant_a, tenant_b, owner_a,
                                                             owner_b):
    mine = _invite(tenant_a, owner_a).invitation
    theirs = _invite(tenant_b, owner_b).invitation
    client = client_for(owner_a, tenant_a)
    assert client.post(f"/portal/invitations/{theirs.pk}/revoke/").status_code == 404
    assert client.post(f"/portal/invitations/{mine.pk}/revoke/").status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, theirs.status) == (Invitation.Status.REVOKED,
                                            Invitation.Status.PENDING)


def test_find_invitation_looks_across_tenants_by_token(tenant_a, tenant_b, owner_a, owner_b):
    sent_b = _invite(tenant_b, owner_b)
    with tenant_scope(tenant_a):
        found = services.find_invitation(sent_b.token)
    assert found == sent_b.invitation
    assert found.tenant == tenant_b
    assert services.find_invitation("not-a-real-token") is None


# Housekeeping: expire stale invitations -----------------------------------------------------

def _stale_and_fresh(tenant_a, tenant_b, owner_a, owner_b):
    past = timezone.now() - timedelta(minutes=5)
    stale_a = _invite(tenant_a, owner_a, email="stale-a@example.com").invitation
    stale_b = _invite(tenant_b, owner_b, email="stale-b@example.com").invitation
    fresh = _invite(tenant_a, owner_a, email="fresh@example.com").invitation
    accepted = _invite(tenant_a, owner_a, email="done@example.com").invitation
    services.accept_invitation(accepted, user=create_user(email="done@example.com"))
    Invitation.unscoped.filter(pk__in=[stale_a.pk, stale_b.pk, accepted.pk]).update(
        expires_at=past)
    return stale_a, stale_b, fresh, accepted


def _statuses(*invitations):
    return [Invitation.unscoped.get(pk=i.pk).status for i in invitations]


def test_expire_stale_invitations_across_tenants(tenant_a, tenant_b, owner_a, owner_b):
    invitations = _stale_and_fresh(tenant_a, tenant_b, owner_a, owner_b)
    assert services.expire_stale_invitations() == 2
    S = Invitation.Status
    assert _statuses(*invitations) == [S.EXPIRED, S.EXPIRED, S.PENDING, S.ACCEPTED]
    assert services.expire_stale_invitations() == 0


def test_the_housekeeping_schedule_exists(db):
    schedule = Schedule.objects.get(func="tenants.services.expire_stale_invitations")
    assert schedule.schedule_type == Schedule.HOURLY
    assert schedule.repeats == -1  # forever


def test_the_schedules_function_runs_through_django_q(tenant_a, tenant_b, owner_a, owner_b):
    invitations = _stale_and_fresh(tenant_a, tenant_b, owner_a, owner_b)
    schedule = Schedule.objects.get(func="tenants.services.expire_stale_invitations")
    # django-q resolves the dotted path and runs it the way its cluster worker does.
    task_id = async_task(schedule.func, sync=True)
    assert q_result(task_id) == 2
    S = Invitation.Status
    assert _statuses(*invitations) == [S.EXPIRED, S.EXPIRED, S.PENDING, S.ACCEPTED]


def test_an_unknown_schedule_function_would_fail_in_django_q(db):
    # Guards the test above: django-q really resolves the name (a typo does not pass).
    with pytest.raises(ValueError, match="not defined"):
        async_task("tenants.services.expire_stale_invitationz", sync=True)


# Staff never act through a tenant scope --------------------------------------------------------

def test_staff_lifecycle_services_need_no_scope(pending_tenant):
    support = create_staff(StaffRole.SUPPORT)
    # The service itself does not check staff roles (the console view does); it must not
    # depend on a tenant scope either.
    services.verify_tenant(pending_tenant, by=support)
    assert _events(pending_tenant)[0].actor == support
