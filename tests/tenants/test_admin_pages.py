"""The Django admin: ISV platform admins change, support only looks, sellers are kept out."""

import pytest
from django.urls import reverse

from tenants.models import User
from tenants.roles import StaffRole
from tests.conftest import client_for, create_staff

ADMIN_PAGES = [
    "admin:index",
    "admin:tenants_tenant_changelist",
    "admin:tenants_user_changelist",
    "admin:tenants_user_add",
    "admin:tenants_membership_changelist",
    "admin:tenants_invitation_changelist",
    "admin:tenants_apikey_changelist",
    "admin:audit_auditevent_changelist",
    "admin:django_q_schedule_changelist",
    "admin:billing_quotapack_changelist",
    "admin:billing_quotapack_add",
    "admin:billing_storesubscription_changelist",
    "admin:billing_storesubscription_add",
    "admin:billing_usageevent_changelist",
    "admin:billing_dailyusage_changelist",
    "admin:billing_reservation_changelist",
    "admin:billing_stripecustomer_changelist",
    "admin:billing_stripeinvoice_changelist",
    "admin:billing_stripeevent_changelist",
    "admin:generation_modelnode_changelist",
    "admin:generation_modelnode_add",
    "admin:generation_instructionset_changelist",
    "admin:generation_instructionversion_changelist",
    "admin:generation_bannedword_changelist",
    "admin:generation_bannedword_add",
    "admin:generation_tenantbannedword_changelist",
    "admin:generation_brandvoice_changelist",
    "admin:generation_generationjob_changelist",
    "admin:generation_generationitem_changelist",
    "admin:generation_modelrequestlog_changelist",
]


@pytest.mark.parametrize("url_name", ADMIN_PAGES)
def test_platform_admin_opens_every_admin_page(platform_admin, owner_a, url_name):
    response = client_for(platform_admin).get(reverse(url_name))
    assert response.status_code == 200


def test_platform_admin_sees_tenant_owned_rows_of_every_tenant(platform_admin, owner_a, owner_b):
    response = client_for(platform_admin).get(reverse("admin:tenants_membership_changelist"))
    assert owner_a.email in response.text and owner_b.email in response.text


def test_platform_admin_adds_a_staff_user(platform_admin):
    response = client_for(platform_admin).post(reverse("admin:tenants_user_add"), {
        "email": "support@isv.example.com", "staff_role": StaffRole.SUPPORT,
        "usable_password": "true", "password1": "a-Long-password-2026",
        "password2": "a-Long-password-2026",
    })
    assert response.status_code == 302, response.content
    assert User.objects.get(email="support@isv.example.com").staff_role == StaffRole.SUPPORT


def test_support_reads_but_cannot_change(db, owner_a):
    support = create_staff(StaffRole.SUPPORT)
    client = client_for(support)
    assert client.get(reverse("admin:tenants_tenant_changelist")).status_code == 200
    assert client.get(reverse("admin:tenants_user_add")).status_code == 403


def test_seller_is_turned_away_from_the_admin(owner_a):
    response = client_for(owner_a).get(reverse("admin:index"), follow=True)
    assert response.status_code == 403


def test_anonymous_admin_login_goes_through_allauth(db):
    from django.test import Client

    response = Client().get(reverse("admin:index"), follow=True)
    assert response.request["PATH_INFO"] == reverse("account_login")
