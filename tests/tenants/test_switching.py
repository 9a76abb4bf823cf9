"""Switching between the companies a user belongs to (POST /portal/switch/)."""

from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import Invitation, Membership
from tenants.roles import TenantRole
from tests.conftest import client_for, create_tenant


@pytest.fixture
def two_company_user(tenant_a, tenant_b, owner_a, owner_b):
    """owner_a owns Alpha Trading and is a viewer at Beta Gadgets."""
    Membership.unscoped.create(tenant=tenant_b, user=owner_a, role=TenantRole.VIEWER)
    return owner_a


def _tenant_of(response):
    return response.context["request"].tenant


def test_a_member_of_two_companies_switches_between_them(tenant_a, tenant_b, owner_b,
                                                         two_company_user):
    client = client_for(two_company_user, tenant_a)
    dashboard = client.get("/portal/")
    assert _tenant_of(dashboard) == tenant_a
    assert [t.pk for t in dashboard.context["other_tenants"]] == [tenant_b.pk]

    response = client.post("/portal/switch/", {"tenant_id": tenant_b.pk})
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert client.session["tenant_id"] == tenant_b.pk

    dashboard = client.get("/portal/")
    assert _tenant_of(dashboard) == tenant_b
    assert dashboard.context["request"].tenant_role == TenantRole.VIEWER
    members = client.get("/portal/members/")
    emails = {m.user.email for m in members.context["memberships"]}
    assert emails == {owner_b.email, two_company_user.email}

    # The role follows the company: a viewer at Beta may not invite there.
    assert client.post("/portal/members/", {"email": "x@example.com",
                                            "role": TenantRole.VIEWER}).status_code == 403
    assert not Invitation.unscoped.exists()

    client.post("/portal/switch/", {"tenant_id": tenant_a.pk})
    assert _tenant_of(client.get("/portal/")) == tenant_a
    assert client.post("/portal/members/", {"email": "x@example.com",
                                            "role": TenantRole.VIEWER}).status_code == 302


def test_switching_to_a_company_one_is_not_a_member_of_is_refused(tenant_a, tenant_b, owner_a,
                                                                  owner_b):
    client = client_for(owner_a, tenant_a)
    response = client.post("/portal/switch/", {"tenant_id": tenant_b.pk})
    assert response.status_code == 403
    assert client.session["tenant_id"] == tenant_a.pk
    assert _tenant_of(client.get("/portal/")) == tenant_a


@pytest.mark.parametrize("value", ["", "abc", "999999999"])
def test_switching_with_nonsense_is_refused(tenant_a, owner_a, value):
    client = client_for(owner_a, tenant_a)
    assert client.post("/portal/switch/", {"tenant_id": value}).status_code == 403
    assert client.session["tenant_id"] == tenant_a.pk


def test_switching_needs_post_and_a_signed_in_user(tenant_a, tenant_b, two_company_user):
    client = client_for(two_company_user, tenant_a)
    assert client.get(f"/portal/switch/?tenant_id={tenant_b.pk}").status_code == 405
    assert client.session["tenant_id"] == tenant_a.pk

    response = Client().post("/portal/switch/", {"tenant_id": tenant_b.pk})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_forged_session_tenant_falls_back_to_a_real_membership(tenant_a, tenant_b, owner_a,
                                                                 owner_b):
    # Even if the session names another company, the user only ever gets their own.
    client = client_for(owner_a, tenant_b)
    response = client.get("/portal/")
    assert _tenant_of(response) == tenant_a
    assert response.context["request"].tenant_role == TenantRole.OWNER


def test_losing_a_membership_moves_the_session_to_the_remaining_company(
        tenant_a, tenant_b, two_company_user):
    client = client_for(two_company_user, tenant_b)
    assert _tenant_of(client.get("/portal/")) == tenant_b
    Membership.unscoped.filter(tenant=tenant_b, user=two_company_user).delete()
    assert _tenant_of(client.get("/portal/")) == tenant_a


def test_without_a_choice_the_first_company_by_name_is_used(db, two_company_user, tenant_a):
    aardvark = create_tenant("Aardvark Exports")
    Membership.unscoped.create(tenant=aardvark, user=two_company_user, role=TenantRole.OPERATOR)
    client = client_for(two_company_user)  # no tenant_id in the session
    assert _tenant_of(client.get("/portal/")) == aardvark
