"""The invitation e-mail travels through a real Celery worker and the real Redis broker.

The worker is Celery's embedded test worker (a thread in this process, solo pool) consuming
from the broker configured in the test settings. The tests are transactional: the worker
thread has its own database connection and sees only committed rows, exactly like a
worker on another machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from celery.signals import task_prerun
from django.conf import settings
from django.core import mail
from django.db import transaction

from tenants import services
from tenants.models import Invitation, Membership
from tenants.roles import TenantRole
from tenants.scope import tenant_scope
from tenants.tasks import send_invitation_email
from tests import celery_worker
from tests.conftest import add_member, client_for, create_tenant, create_user
from tests.tenants.mail_checks import accept_link, assert_bilingual_invitation

pytestmark = pytest.mark.django_db(transaction=True)

TEST_DEADLINE_SECONDS = 90  # the whole test, worker start and stop included
MAIL_WAIT_SECONDS = 30


@pytest.fixture
def embedded_worker(monkeypatch) -> Iterator[object]:
    with celery_worker.embedded_worker(monkeypatch, name="tenants",
                                       deadline_seconds=TEST_DEADLINE_SECONDS) as worker:
        yield worker


@pytest.fixture
def email_task_runs() -> Iterator[list[tuple]]:
    """The argument lists of every send_invitation_email the worker starts."""
    runs: list[tuple] = []

    def on_prerun(sender=None, args=None, **kwargs):
        if sender is not None and sender.name == send_invitation_email.name:
            runs.append(tuple(args))

    task_prerun.connect(on_prerun, weak=False)
    try:
        yield runs
    finally:
        task_prerun.disconnect(on_prerun)


def wait_for_mail(*, token: str = "", to: str = "", timeout: float = MAIL_WAIT_SECONDS):
    """Bounded wait for the worker to deliver the e-mail(s) with this token or recipient."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = [m for m in mail.outbox
                    if (not token or token in m.body) and (not to or m.to == [to])]
        if messages:
            return messages
        time.sleep(0.05)
    raise AssertionError(f"no invitation e-mail within {timeout}s; outbox: "
                         f"{[(m.to, m.subject) for m in mail.outbox]}")


def test_invitation_email_is_sent_by_the_worker_after_commit(embedded_worker, email_task_runs):
    tenant = create_tenant("Hangzhou Lighting")
    owner = add_member(tenant, TenantRole.OWNER, email="boss@hz-lighting.example.com")

    with transaction.atomic(), tenant_scope(tenant):
        sent = services.invite_member(tenant=tenant, email="Clerk@HZ-Lighting.example.com",
                                      role=TenantRole.REVIEWER, by=owner)
        assert Invitation.objects.filter(pk=sent.invitation.pk).exists()
    # Committed: the task is on the broker now, and the worker picks it up.

    [message] = wait_for_mail(token=sent.token)
    assert email_task_runs == [(tenant.pk, sent.invitation.pk, sent.token)]
    assert message.to == ["clerk@hz-lighting.example.com"]
    assert owner.email in message.body  # who invited
    assert_bilingual_invitation(message, token=sent.token, tenant_name=tenant.name)

    # The link in the e-mail really leads to the invitation, and accepting it works.
    invitee = create_user(email="clerk@hz-lighting.example.com")
    client = client_for(invitee)
    path = accept_link(sent.token).removeprefix(settings.SITE_URL.rstrip("/"))
    assert client.get(path).status_code == 200
    assert client.post(path).status_code == 302
    membership = Membership.unscoped.get(user=invitee)
    assert (membership.tenant, membership.role) == (tenant, TenantRole.REVIEWER)


def test_invitation_from_the_members_page_is_sent_by_the_worker(embedded_worker):
    tenant = create_tenant("Xiamen Outdoor")
    owner = add_member(tenant, TenantRole.OWNER)
    client = client_for(owner, tenant)

    # ATOMIC_REQUESTS: the request's transaction commits, then the task is enqueued.
    response = client.post("/portal/members/", {"email": "packer@example.com",
                                                "role": TenantRole.VIEWER})
    assert response.status_code == 302
    invitation = Invitation.unscoped.get(tenant=tenant)

    [message] = wait_for_mail(to="packer@example.com")
    token = message.body.split("/invitations/")[1].split("/")[0]
    assert services.find_invitation(token) == invitation
    assert_bilingual_invitation(message, token=token, tenant_name=tenant.name)


def test_a_rolled_back_invitation_never_reaches_the_worker(embedded_worker, email_task_runs):
    tenant = create_tenant("Rollback Goods")
    owner = add_member(tenant, TenantRole.OWNER)
    with pytest.raises(RuntimeError), transaction.atomic(), tenant_scope(tenant):
        services.invite_member(tenant=tenant, email="ghost@example.com",
                               role=TenantRole.VIEWER, by=owner)
        raise RuntimeError("the request failed after inviting")
    assert not Invitation.unscoped.exists()

    # The queue is first in, first out: once a later invitation has been delivered, a task
    # for the rolled-back one would have run before it. Only the later one ran.
    with transaction.atomic(), tenant_scope(tenant):
        sent = services.invite_member(tenant=tenant, email="real@example.com",
                                      role=TenantRole.VIEWER, by=owner)
    wait_for_mail(token=sent.token)
    assert [run for run in email_task_runs if run[0] == tenant.pk] == [
        (tenant.pk, sent.invitation.pk, sent.token)]
    assert not any("ghost@example.com" in m.to for m in mail.outbox)
