"""Sign-in, sign-up by invitation and staff MFA, through django-allauth's real views."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import translation

from portal.client_ip import client_ip
from tenants import services
from tenants.models import Invitation, Membership, Tenant, User
from tenants.roles import StaffRole, TenantRole
from tenants.scope import tenant_scope
from tests.conftest import PASSWORD, add_member, create_staff

LOGIN = "/accounts/login/"
SIGNUP = "/accounts/signup/"
NEW_PASSWORD = "Sturdy-Passphrase-2026!"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def browser() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def signed_in_user_id(client: Client) -> str | None:
    return client.session.get(SESSION_KEY)


def log_in(client: Client, email: str, password: str = PASSWORD, next_url: str = ""):
    url = f"{LOGIN}?next={next_url}" if next_url else LOGIN
    return client.post(url, {"login": email, "password": password})


def totp_code(user: User) -> str:
    secret = decrypt(Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
                     .data["secret"])
    return current_code(secret)


def current_code(secret: str) -> str:
    period = mfa_settings.TOTP_PERIOD
    # A code is valid for its 30-second window only: do not compute one in its last second.
    if period - time.time() % period < 1:
        time.sleep(period - time.time() % period)
    return format_hotp_value(hotp_value(secret, int(time.time()) // period))


def invite(tenant: Tenant, email: str, role: str = TenantRole.OPERATOR) -> str:
    by = Membership.unscoped.filter(tenant=tenant, role=TenantRole.OWNER).first().user
    with tenant_scope(tenant):
        return services.invite_member(tenant=tenant, email=email, role=role, by=by).token


# E-mail sign-in -----------------------------------------------------------------------------

def test_a_verified_member_signs_in_with_email(tenant_a, owner_a):
    client = browser()
    assert client.get(LOGIN).status_code == 200
    response = log_in(client, owner_a.email.upper())  # e-mail is case-insensitive
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert signed_in_user_id(client) == str(owner_a.pk)
    response = client.get("/", follow=True)
    assert response.redirect_chain == [("/portal/", 302)]
    assert response.context["request"].tenant == tenant_a


def test_a_wrong_password_does_not_sign_in(owner_a):
    client = browser()
    response = log_in(client, owner_a.email, "not-the-password")
    assert response.status_code == 200
    assert response.context["form"].errors
    assert signed_in_user_id(client) is None
    assert client.get("/portal/")["Location"].startswith(LOGIN)


def test_an_unverified_address_must_be_confirmed_first(tenant_a):
    user = add_member(tenant_a, TenantRole.VIEWER)
    EmailAddress.objects.filter(user=user).update(verified=False)
    client = browser()
    response = log_in(client, user.email)
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert signed_in_user_id(client) is None
    [message] = mail.outbox
    assert message.to == [user.email]


def test_a_deactivated_user_cannot_sign_in(owner_a):
    owner_a.is_active = False
    owner_a.save()
    client = browser()
    log_in(client, owner_a.email)
    assert signed_in_user_id(client) is None


# Sign-up is by invitation only ----------------------------------------------------------------

def test_sign_up_is_closed_without_an_invitation(db):
    client = browser()
    response = client.get(SIGNUP)
    assert response.status_code == 200
    assert "account/signup_closed.html" in [t.name for t in response.templates]
    response = client.post(SIGNUP, {"email": "walk-in@example.com", "password1": NEW_PASSWORD,
                                    "password2": NEW_PASSWORD})
    assert "account/signup_closed.html" in [t.name for t in response.templates]
    assert not User.objects.filter(email="walk-in@example.com").exists()


def test_an_invited_person_signs_up_and_joins(tenant_a, owner_a):
    token = invite(tenant_a, "invitee@example.com", TenantRole.REVIEWER)
    client = browser()

    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 200
    assert tenant_a.name in page.content.decode()
    assert "account/signup.html" in [t.name for t in client.get(SIGNUP).templates]

    response = client.post(SIGNUP, {"email": "invitee@example.com",
                                    "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    # Straight back to the invitation, to join.
    assert response["Location"] == f"/invitations/{token}/"
    user = User.objects.get(email="invitee@example.com")
    # The invitation link proved the address: verified and signed in straight away.
    assert EmailAddress.objects.get(user=user).verified
    assert signed_in_user_id(client) == str(user.pk)
    assert not Membership.unscoped.filter(user=user).exists()  # not before accepting

    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 200
    assert "Join the company" in page.content.decode()
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    membership = Membership.unscoped.get(user=user)
    assert (membership.tenant, membership.role) == (tenant_a, TenantRole.REVIEWER)
    dashboard = client.get("/portal/")
    assert dashboard.status_code == 200
    assert dashboard.context["request"].tenant == tenant_a


def test_signing_up_with_another_address_still_makes_the_invited_address_primary(tenant_a,
                                                                              owner_a):
    token = invite(tenant_a, "invitee@example.com")
    client = browser()
    client.get(f"/invitations/{token}/")
    client.post(SIGNUP, {"email": "someone.else@example.com",
                         "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    # allauth keeps the address the invitation proved as the verified primary one; the
    # typed address is only added, unverified, until its owner confirms it.
    user = User.objects.get(email="invitee@example.com")
    addresses = {a.email: (a.verified, a.primary) for a in EmailAddress.objects.filter(user=user)}
    assert addresses == {"invitee@example.com": (True, True),
                         "someone.else@example.com": (False, False)}
    assert not Membership.unscoped.filter(user=user).exists()
    assert client.post(f"/invitations/{token}/").status_code == 302
    assert Membership.unscoped.get(user=user).tenant == tenant_a


def test_an_existing_user_signs_in_from_the_invitation_and_joins(tenant_a, tenant_b, owner_a,
                                                                 owner_b):
    token = invite(tenant_a, owner_b.email, TenantRole.VIEWER)
    client = browser()
    page = client.get(f"/invitations/{token}/")
    assert f"?next=/invitations/{token}/" in page.content.decode()
    response = log_in(client, owner_b.email, next_url=f"/invitations/{token}/")
    assert response["Location"] == f"/invitations/{token}/"
    assert client.post(f"/invitations/{token}/").status_code == 302
    assert Membership.unscoped.get(user=owner_b, tenant=tenant_a).role == TenantRole.VIEWER
    # Joining switches the session to the new company.
    assert client.get("/portal/").context["request"].tenant == tenant_a


def test_a_signed_in_user_with_the_wrong_address_cannot_accept(tenant_a, owner_a, owner_b):
    token = invite(tenant_a, "invitee@example.com")
    client = browser()
    client.force_login(owner_b)
    response = client.post(f"/invitations/{token}/", follow=True)
    assert response.status_code == 200
    assert any("invitee@example.com" in str(m) for m in response.context["messages"])
    assert not Membership.unscoped.filter(user=owner_b, tenant=tenant_a).exists()


@pytest.mark.parametrize("how", ["revoked", "unknown"])
def test_an_unusable_invitation_link_keeps_sign_up_closed(tenant_a, owner_a, how):
    token = invite(tenant_a, "invitee@example.com")
    if how == "revoked":
        invite(tenant_a, "invitee@example.com")  # re-inviting revokes the first link
    else:
        token = "made-up-token"
    client = browser()
    assert client.get(f"/invitations/{token}/").status_code == 404
    assert "account/signup_closed.html" in [t.name for t in client.get(SIGNUP).templates]


def test_an_invitation_that_expires_closes_sign_up_again(tenant_a, owner_a):
    token = invite(tenant_a, "invitee@example.com")
    client = browser()
    client.get(f"/invitations/{token}/")
    assert "account/signup.html" in [t.name for t in client.get(SIGNUP).templates]
    Invitation.unscoped.filter(email="invitee@example.com").update(
        status=Invitation.Status.EXPIRED)
    assert "account/signup_closed.html" in [t.name for t in client.get(SIGNUP).templates]
    client.post(SIGNUP, {"email": "invitee@example.com", "password1": NEW_PASSWORD,
                         "password2": NEW_PASSWORD})
    assert not User.objects.filter(email="invitee@example.com").exists()


# ISV staff and TOTP ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/console/tenants/", "/console/finance/usage/", "/portal/",
                                  "/", "/admin/", "/api/v1/me/"])
def test_staff_without_totp_are_sent_to_set_it_up(db, path):
    staff = create_staff(StaffRole.SUPPORT, with_totp=False)
    client = browser()
    assert log_in(client, staff.email).status_code == 302
    assert signed_in_user_id(client) == str(staff.pk)
    response = client.get(path)
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("mfa_activate_totp")
    assert parse_qs(location.query)["next"] == [path]


def test_staff_set_up_totp_and_then_reach_the_console(db):
    staff = create_staff(StaffRole.PLATFORM_ADMIN, with_totp=False)
    client = browser()
    log_in(client, staff.email)
    setup_url = client.get("/console/tenants/")["Location"]
    # allauth asks for the password once more before a second factor is added.
    response = client.get(setup_url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    response = client.post(response["Location"], {"password": PASSWORD})
    assert response["Location"] == setup_url
    page = client.get(setup_url)
    assert page.status_code == 200  # the setup page itself is reachable
    secret = client.session[SECRET_SESSION_KEY]

    right = current_code(secret)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    response = client.post(setup_url, {"code": wrong})
    assert response.status_code == 200  # a wrong code is refused
    assert not Authenticator.objects.filter(user=staff).exists()

    response = client.post(setup_url, {"code": current_code(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()
    assert client.get("/console/tenants/").status_code == 200


def test_staff_with_totp_must_enter_the_code_at_login(db):
    staff = create_staff(StaffRole.PLATFORM_ADMIN)
    client = browser()
    response = log_in(client, staff.email)
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    # The password alone does not sign in.
    assert signed_in_user_id(client) is None
    assert client.get("/console/tenants/")["Location"].startswith(LOGIN)

    page = client.get(reverse("mfa_authenticate"))
    assert page.status_code == 200
    wrong = client.post(reverse("mfa_authenticate"), {"code": "12345"})
    assert wrong.status_code == 200
    assert signed_in_user_id(client) is None

    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(staff)})
    assert response.status_code == 302
    assert signed_in_user_id(client) == str(staff.pk)
    assert client.get("/console/tenants/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_sellers_are_not_asked_for_totp(tenant_a, owner_a):
    client = browser()
    response = log_in(client, owner_a.email)
    assert response["Location"] == "/"
    assert client.get("/portal/").status_code == 200


# The admin signs in through allauth -------------------------------------------------------------

def test_admin_login_redirects_to_the_allauth_login(db):
    client = browser()
    response = client.get("/admin/login/?next=/admin/tenants/tenant/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Ftenants%2Ftenant%2F"

    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/?next=%2Fadmin%2F"
    assert response.status_code == 200
    assert "account/login.html" in [t.name for t in response.templates]


def test_admin_login_posts_are_not_accepted_either(platform_admin):
    client = browser()
    response = client.post("/admin/login/", {"username": platform_admin.email,
                                             "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert signed_in_user_id(client) is None


@pytest.mark.parametrize("who", ["seller", "finance"])
def test_signed_in_users_without_admin_access_are_refused_not_looped(tenant_a, owner_a, who):
    user = owner_a if who == "seller" else create_staff(StaffRole.FINANCE)
    client = browser()
    client.force_login(user)
    for path in ("/admin/", "/admin/tenants/tenant/"):
        response = client.get(path, follow=True)
        assert response.status_code == 403, response.redirect_chain
        assert len(response.redirect_chain) == 1


# Rate limits ---------------------------------------------------------------------------------

def test_login_is_rate_limited_per_account_after_repeated_failures(owner_a):
    client = browser()
    for _attempt in range(5):
        response = log_in(client, owner_a.email, "wrong-password")
        assert "Too many failed login attempts" not in response.content.decode()
    response = log_in(client, owner_a.email)  # even the right password is refused now
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert signed_in_user_id(client) is None


def test_login_is_rate_limited_per_ip_across_accounts(tenant_a, owner_a):
    client = browser()
    for n in range(10):
        log_in(client, f"nobody{n}@example.com", "wrong-password")
    response = log_in(client, owner_a.email)
    assert "Too many failed login attempts" in response.content.decode()
    assert signed_in_user_id(client) is None


def test_a_few_failures_do_not_lock_the_account(owner_a):
    client = browser()
    for _attempt in range(4):
        log_in(client, owner_a.email, "wrong-password")
    log_in(client, owner_a.email)
    assert signed_in_user_id(client) == str(owner_a.pk)


# Behind the HTTPS proxy: whose address the limit counts (TRUSTED_PROXY_COUNT) ----------------

PROXY = "10.0.0.5"  # every request reaches the app from the proxy


def _fail_ten_logins(client: Client, **headers) -> None:
    for n in range(10):
        client.post(LOGIN, {"login": f"nobody{n}@example.com", "password": "wrong"}, **headers)


def test_behind_a_trusted_proxy_one_client_cannot_lock_out_the_others(settings, tenant_a,
                                                                      owner_a):
    settings.TRUSTED_PROXY_COUNT = 1
    attacker, user = browser(), browser()
    _fail_ten_logins(attacker, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7")
    locked = attacker.post(LOGIN, {"login": owner_a.email, "password": PASSWORD},
                           REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert "Too many failed login attempts" in locked.content.decode()
    # Another client behind the same proxy signs in.
    user.post(LOGIN, {"login": owner_a.email, "password": PASSWORD}, REMOTE_ADDR=PROXY,
              HTTP_X_FORWARDED_FOR="203.0.113.20")
    assert signed_in_user_id(user) == str(owner_a.pk)


def test_behind_a_trusted_proxy_the_client_cannot_forge_its_way_around(settings, owner_a):
    """Entries left of the proxy's own are the client's to invent: only the last counts."""
    settings.TRUSTED_PROXY_COUNT = 1
    client = browser()
    for n in range(10):
        client.post(LOGIN, {"login": f"nobody{n}@example.com", "password": "wrong"},
                    REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 198.51.100.7")
    response = client.post(LOGIN, {"login": owner_a.email, "password": PASSWORD},
                           REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.99, 198.51.100.7")
    assert "Too many failed login attempts" in response.content.decode()


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(settings, owner_a):
    settings.TRUSTED_PROXY_COUNT = 0
    client = browser()
    for n in range(10):
        client.post(LOGIN, {"login": f"nobody{n}@example.com", "password": "wrong"},
                    REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    response = client.post(LOGIN, {"login": owner_a.email, "password": PASSWORD},
                           REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert "Too many failed login attempts" in response.content.decode()
    assert signed_in_user_id(client) is None


def test_behind_a_trusted_proxy_the_staff_mfa_step_is_limited_per_client(settings, db):
    settings.TRUSTED_PROXY_COUNT = 1
    staff = create_staff(StaffRole.SUPPORT)
    _fail_ten_logins(browser(), REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7")
    client = browser()
    headers = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "203.0.113.20"}
    client.post(LOGIN, {"login": staff.email, "password": PASSWORD}, **headers)
    client.post(reverse("mfa_authenticate"), {"code": totp_code(staff)}, **headers)
    assert signed_in_user_id(client) == str(staff.pk)


@pytest.mark.parametrize(("count", "forwarded", "expected"), [
    (0, "198.51.100.7", PROXY),
    (1, "", PROXY),
    (1, "not-an-address", PROXY),
    (1, "192.0.2.1, 198.51.100.7", "198.51.100.7"),
    (2, "192.0.2.1, 198.51.100.7", "192.0.2.1"),
    (3, "192.0.2.1, 198.51.100.7", PROXY),  # shorter than the proxies: not believed
])
def test_client_ip(rf, settings, count, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    request = rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
