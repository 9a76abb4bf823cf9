"""Onboarding a seller company: staff create it and invite its owner, or the seller signs up;
documents, verification or refusal (e-mailed in both languages), re-verification of changed
fields, suspension e-mails, and support's tenant page."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from billing import services as billing_services
from generation.models import GenerationJob
from tenants import services
from tenants.models import Invitation, Membership, Tenant, VerificationDocument
from tenants.roles import StaffRole, TenantRole
from tests.billing.conftest import make_store
from tests.conftest import add_member, client_for, create_staff, create_tenant, english_client
from tests.tenants.documents import PDF, attach_documents
from tests.tenants.mail_checks import CJK, SEPARATOR

pytestmark = pytest.mark.usefixtures("eager_celery")

SIGNUP = {"company": "Gamma Home", "contact_name": "Zhang Wei", "phone": "+86 138 0000 0000",
          "email": "zhang@gamma.example.com", "password1": "a-Long-password-2026",
          "password2": "a-Long-password-2026"}


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a request and then what it left for after its commit (the e-mails): the test's own
    transaction never commits."""

    def run(func, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return func(*args, **kwargs)

    return run


def _upload_all(client):
    for kind in VerificationDocument.Kind.values:
        response = client.post("/portal/company/", {
            "upload": "1", "kind": kind, "file": SimpleUploadedFile(f"{kind}.pdf", PDF)})
        assert response.status_code == 302


def _bilingual(message) -> tuple[str, str]:
    chinese, english = message.body.split(SEPARATOR)
    assert CJK.search(chinese) and CJK.search(message.subject)
    assert not CJK.search(english.replace(message.to[0], ""))
    return chinese, english


# Staff onboard a company ----------------------------------------------------------------------

def test_staff_create_a_tenant_and_invite_its_first_owner(platform_admin, committed):
    client = english_client(platform_admin)
    response = committed(client.post, reverse("console_tenants"), {
        "name": "Delta Outdoor", "owner_email": "Boss@Delta.example.com",
        "time_zone": "Asia/Shanghai"})
    tenant = Tenant.objects.get(name="Delta Outdoor")
    assert response.status_code == 302 and response.url == reverse("console_tenant",
                                                                   args=[tenant.slug])
    assert tenant.status == Tenant.Status.PENDING
    invitation = Invitation.unscoped.get(tenant=tenant)
    assert (invitation.email, invitation.role) == ("boss@delta.example.com", TenantRole.OWNER)
    assert [m.to for m in mail.outbox] == [["boss@delta.example.com"]]
    page = client.get(reverse("console_tenant", args=[tenant.slug]))
    assert page.status_code == 200 and "boss@delta.example.com" in page.text


def test_onboarding_bad_input_is_a_translated_400(platform_admin):
    response = client_for(platform_admin).post(reverse("console_tenants"), {
        "name": "  ", "owner_email": "not-an-address", "time_zone": "Mars/Olympus"})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"name", "owner_email", "time_zone"}
    assert all(CJK.search(str(e)) for e in errors.values())
    assert not Tenant.objects.exists()


def test_support_sees_tenants_but_cannot_onboard(db):
    support = create_staff(StaffRole.SUPPORT)
    client = client_for(support)
    assert client.get(reverse("console_tenants")).status_code == 200
    response = client.post(reverse("console_tenants"), {
        "name": "Sneaky", "owner_email": "x@example.com", "time_zone": "Asia/Shanghai"})
    assert response.status_code == 403
    assert not Tenant.objects.exists()


# Sellers sign up themselves -------------------------------------------------------------------

def test_a_seller_signs_the_company_up_into_pending_verification(db):
    response = Client().post(reverse("company_signup"), SIGNUP)
    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    tenant = Tenant.objects.get(name="Gamma Home")
    assert tenant.status == Tenant.Status.PENDING and tenant.contact_phone == "+86 138 0000 0000"
    owner = Membership.unscoped.get(tenant=tenant)
    assert owner.role == TenantRole.OWNER and owner.user.name == "Zhang Wei"
    assert not EmailAddress.objects.get(user=owner.user).verified
    assert mail.outbox[-1].to == [SIGNUP["email"]]  # the verification link


def test_signing_up_with_a_known_email_answers_the_same_and_creates_nothing(owner_a):
    known = dict(SIGNUP, email=owner_a.email.upper(), company="Copycat Ltd")
    response = Client().post(reverse("company_signup"), known)
    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    assert not Tenant.objects.filter(name="Copycat Ltd").exists()
    assert Membership.unscoped.filter(user=owner_a).count() == 1
    assert mail.outbox[-1].to == [owner_a.email]  # told by e-mail, not on the page


def test_sign_up_bad_input_is_a_translated_400(db):
    response = Client().post(reverse("company_signup"), dict(SIGNUP, phone="call me", company=""))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert {"phone", "company"} <= set(errors)
    assert all(CJK.search(str(errors[name])) for name in ("phone", "company"))
    assert not Tenant.objects.exists()


def test_sign_up_is_rate_limited_per_address(db, settings):
    settings.ACCOUNT_RATE_LIMITS = {"signup": "3/m/ip"}
    client = Client()
    codes = [client.post(reverse("company_signup"),
                         dict(SIGNUP, email=f"bot{n}@spam.example.com", company=f"Spam {n}")
                         ).status_code for n in range(5)]
    assert codes[:3] == [302, 302, 302] and codes[3:] == [429, 429]
    assert Tenant.objects.count() == 3


def test_the_plain_sign_up_stays_invitation_only(db):
    response = Client().post(reverse("account_signup"), {
        "email": "x@example.com", "password1": SIGNUP["password1"],
        "password2": SIGNUP["password2"]})
    assert response.status_code == 200  # allauth's "sign-up is closed" page
    assert not Tenant.objects.exists()
    assert not EmailAddress.objects.filter(email="x@example.com").exists()


# Documents, verification, refusal ---------------------------------------------------------

@pytest.fixture
def pending(db):
    tenant = create_tenant("Gamma Home", status=Tenant.Status.PENDING)
    owner = add_member(tenant, TenantRole.OWNER, email="owner@gamma.example.com")
    return tenant, owner


def test_the_company_page_lists_what_is_missing(pending):
    tenant, owner = pending
    client = english_client(owner, tenant)
    page = client.get("/portal/company/").text
    for label in ("Business licence number", "Legal representative", "Business licence",
                  "Legal representative ID", "Company bank account"):
        assert label in page
    _upload_all(client)
    assert services.missing_for_verification(tenant) == ["Business licence number",
                                                        "Legal representative"]


def test_verification_needs_everything_and_emails_the_owners(pending, platform_admin, committed):
    tenant, owner = pending
    admin = english_client(platform_admin)
    url = reverse("console_tenant_action", args=[tenant.slug, "verify"])
    response = committed(admin.post, url, follow=True)
    assert "Still missing" in response.text
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.PENDING and not mail.outbox

    _upload_all(english_client(owner, tenant))
    services.update_company(tenant, by=owner, licence_number="91330000GAMMA",
                            legal_representative="Zhang")
    assert committed(admin.post, url).status_code == 302
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.ACTIVE
    assert tenant.verified_values == {"name": "Gamma Home", "licence_number": "91330000GAMMA"}
    (message,) = mail.outbox
    assert message.to == [owner.email]
    chinese, english = _bilingual(message)
    assert "Listing AI has verified Gamma Home" in english


def test_staff_refuse_with_a_reason_and_the_seller_resubmits(pending, platform_admin, committed):
    tenant, owner = pending
    admin = english_client(platform_admin)
    url = reverse("console_tenant_action", args=[tenant.slug, "refuse"])
    response = committed(admin.post, url, {"reason": ""}, follow=True)
    assert "Give the reason" in response.text
    response = committed(admin.post, url, {"reason": "The licence scan is unreadable."})
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.REFUSED
    (message,) = mail.outbox
    chinese, english = _bilingual(message)
    assert "The licence scan is unreadable." in english and "The licence scan" in chinese

    seller = english_client(owner, tenant)
    assert "The licence scan is unreadable." in seller.get("/portal/company/").text
    assert seller.post("/portal/company/", {"resubmit": "1"}).status_code == 302
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.PENDING


def test_a_verified_company_changing_its_name_goes_back_to_verification(tenant_a, owner_a,
                                                                       platform_admin):
    attach_documents(tenant_a, owner_a)
    tenant_a.status = Tenant.Status.PENDING
    tenant_a.save()
    services.verify_tenant(tenant_a, by=platform_admin)
    mail.outbox.clear()

    seller = english_client(owner_a, tenant_a)
    form = {"name": "Alpha Trading Group", "time_zone": "Asia/Shanghai",
            "licence_number": "91330000ALPHA", "legal_representative": "Li", "contact_phone": ""}
    assert seller.post("/portal/company/", form).status_code == 302
    tenant_a.refresh_from_db()
    assert tenant_a.status == Tenant.Status.ACTIVE  # keeps working meanwhile
    assert tenant_a.fields_to_verify == ["name"]
    assert "waits for verification by ISV staff" in seller.get("/portal/company/").text
    # Changing it back needs no verification; changing the legal representative never does.
    services.update_company(tenant_a, by=owner_a, name="Alpha Trading", legal_representative="Wu")
    assert tenant_a.fields_to_verify == []
    services.update_company(tenant_a, by=owner_a, licence_number="91330000ALPHA2")
    assert tenant_a.fields_to_verify == ["licence_number"]

    admin = english_client(platform_admin)
    waiting = admin.get(reverse("console_tenants"), {"status": "awaiting"}).text
    assert tenant_a.name in waiting and "Changes to verify" in waiting
    url = reverse("console_tenant_action", args=[tenant_a.slug, "refuse"])
    assert admin.post(url, {"reason": "The new licence is not on file."}).status_code == 302
    tenant_a.refresh_from_db()
    assert tenant_a.licence_number == "91330000ALPHA" and tenant_a.fields_to_verify == []
    assert tenant_a.status == Tenant.Status.ACTIVE
    waiting = admin.get(reverse("console_tenants"), {"status": "awaiting"}).text
    assert reverse("console_tenant", args=[tenant_a.slug]) not in waiting

    services.update_company(tenant_a, by=owner_a, name="Alpha Group")
    services.verify_tenant(tenant_a, by=platform_admin)
    tenant_a.refresh_from_db()
    assert tenant_a.verified_values["name"] == "Alpha Group" and not tenant_a.fields_to_verify


def test_nothing_to_verify_is_refused(tenant_a, platform_admin):
    with pytest.raises(services.TenantError):
        services.verify_tenant(tenant_a, by=platform_admin)


def test_suspension_and_reactivation_email_the_owners(tenant_a, owner_a, platform_admin,
                                                     committed):
    second_owner = add_member(tenant_a, TenantRole.OWNER)
    add_member(tenant_a, TenantRole.REVIEWER)
    admin = english_client(platform_admin)
    committed(admin.post, reverse("console_tenant_action", args=[tenant_a.slug, "suspend"]),
              {"reason": "Unpaid statement."})
    committed(admin.post, reverse("console_tenant_action", args=[tenant_a.slug, "reactivate"]))
    suspended, reactivated = mail.outbox
    assert sorted(suspended.to) == sorted([owner_a.email, second_owner.email])
    assert "Unpaid statement." in _bilingual(suspended)[1]
    assert "reactivated" in _bilingual(reactivated)[1]


def test_an_unknown_action_is_404(tenant_a, platform_admin):
    response = client_for(platform_admin).post(
        reverse("console_tenant_action", args=[tenant_a.slug, "delete"]))
    assert response.status_code == 404


# Support's tenant page ------------------------------------------------------------------------

def test_support_sees_everything_about_a_tenant_at_once(tenant_a, owner_a):
    pack = billing_services.create_pack(code="standard", name="Standard",
                                        terms=billing_services.STANDARD_TERMS, by=None)
    store = make_store(tenant_a, owner_a, "Alpha Temu US")
    billing_services.subscribe_store(store, pack, by=None)
    support = create_staff(StaffRole.SUPPORT)
    response = english_client(support).get(reverse("console_tenant", args=[tenant_a.slug]))
    assert response.status_code == 200
    text = response.text
    for section in ('id="stores"', 'id="subscriptions"', 'id="jobs"', 'id="statements"',
                    'id="members"', 'id="audit"', 'id="verification"'):
        assert section in text
    assert "Alpha Temu US" in text and owner_a.email in text
    assert "0 / 500" in text  # today's included calls
    assert 'id="actions"' not in text  # support looks, platform admins act
    assert "e-mail confirmed" in text and "e-mail not confirmed" not in text
    EmailAddress.objects.filter(user=owner_a).update(verified=False)
    response = english_client(support).get(reverse("console_tenant", args=[tenant_a.slug]))
    assert "e-mail not confirmed" in response.text


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_tenant_page_shows_jobs_failures_and_statements_in_both_languages(
        tenant_a, owner_a, platform_admin, language):
    from datetime import date

    from billing import statements
    from generation.models import GenerationItem
    from tests.review.conftest import make_item, make_job, make_product

    pack = billing_services.create_pack(code="standard", name="Standard",
                                        terms=billing_services.STANDARD_TERMS, by=None)
    store = make_store(tenant_a, owner_a, "Alpha Temu US")
    billing_services.subscribe_store(store, pack, by=None)
    job = make_job(store, owner_a, status=GenerationJob.Status.COMPLETED_WITH_ERRORS)
    item = make_item(job, make_product(store, title="Steel water bottle"), enter=False,
                     status=GenerationItem.Status.FAILED)
    GenerationItem.unscoped.filter(pk=item.pk).update(error_code="ERR_VS_402")
    statement = statements.draw_up(tenant_a, date.today().replace(day=1))

    client = client_for(platform_admin)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    response = client.get(reverse("console_tenant", args=[tenant_a.slug]))
    assert response.status_code == 200
    html = response.text
    assert f"#{job.pk}" in html and "ERR_VS_402" in html and "Steel water bottle" in html
    assert statement.number in html
    assert reverse("console_job_diagnose", args=[job.pk]) in html
    assert reverse("finance_statement", args=[statement.pk]) in html
    for repr_marker in ("{'", "<QuerySet", ">None<", "[]"):
        assert repr_marker not in html, repr_marker


def test_the_admins_tenant_pages_open(tenant_a, owner_a, platform_admin):
    client = client_for(platform_admin)
    assert client.get(reverse("admin:tenants_tenant_add")).status_code == 200
    change = reverse("admin:tenants_tenant_change", args=[tenant_a.pk])
    assert client.get(change).status_code == 200
    membership = Membership.unscoped.get(tenant=tenant_a)
    response = client.post(change, {
        "name": "Alpha Trading Co", "slug": tenant_a.slug, "status": Tenant.Status.ACTIVE,
        "time_zone": "Asia/Shanghai", "licence_number": tenant_a.licence_number,
        "legal_representative": "Li", "suspension_reason": "", "refusal_reason": "",
        "contact_phone": "",
        "membership_set-TOTAL_FORMS": "1", "membership_set-INITIAL_FORMS": "1",
        "membership_set-MIN_NUM_FORMS": "0", "membership_set-MAX_NUM_FORMS": "1000",
        "membership_set-0-id": membership.pk, "membership_set-0-tenant": tenant_a.pk,
        "membership_set-0-user": owner_a.pk, "membership_set-0-role": TenantRole.OWNER,
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    tenant_a.refresh_from_db()
    assert tenant_a.name == "Alpha Trading Co"


# Abandoned sign-ups ---------------------------------------------------------------------------

def test_week_old_sign_ups_never_confirmed_are_purged_and_nothing_else(db, platform_admin):
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import Schedule

    from tenants.models import User

    assert Schedule.objects.filter(func="tenants.services.purge_unconfirmed_signups").exists()
    for n in range(3):
        Client().post(reverse("company_signup"),
                      dict(SIGNUP, email=f"s{n}@example.com", company=f"Signup {n}"))
    confirmed = Tenant.objects.get(name="Signup 1")
    EmailAddress.objects.filter(email="s1@example.com").update(verified=True)
    with_document = Tenant.objects.get(name="Signup 2")
    attach_documents(with_document)
    services.onboard_tenant(name="Staff Onboarded", owner_email="boss@example.com",
                            by=platform_admin)
    Tenant.objects.update(created_at=timezone.now() - timedelta(days=8))
    fresh = Client().post(reverse("company_signup"),
                          dict(SIGNUP, email="new@example.com", company="Fresh"))
    assert fresh.status_code == 302

    assert services.purge_unconfirmed_signups() == 1
    assert set(Tenant.objects.values_list("name", flat=True)) == {
        confirmed.name, with_document.name, "Staff Onboarded", "Fresh"}
    assert not User.objects.filter(email="s0@example.com").exists()
    assert User.objects.filter(email="s1@example.com").exists()
    assert services.purge_unconfirmed_signups() == 0
