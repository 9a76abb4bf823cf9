"""django-allauth hooks: sign-up is by invitation or on the company sign-up page; the client
address behind our proxy; MFA secrets encrypted at rest."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from django.http import HttpRequest

from portal import encryption
from portal.client_ip import client_ip
from tenants.services import find_invitation

INVITATION_SESSION_KEY = "invitation_token"


class AccountAdapter(DefaultAccountAdapter):
    def pending_invitation(self, request: HttpRequest):
        token = request.session.get(INVITATION_SESSION_KEY)
        invitation = find_invitation(token) if token else None
        return invitation if invitation is not None and invitation.is_usable else None

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Open on the company sign-up page; elsewhere only for an invitation.
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name == "company_signup":
            return True
        return self.pending_invitation(request) is not None

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        if request.session.get(INVITATION_SESSION_KEY):
            from django.urls import reverse

            return reverse("invitation_accept", args=[request.session[INVITATION_SESSION_KEY]])
        return super().get_login_redirect_url(request)

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        # Someone who just signed up from an invitation goes back to it, to join.
        return self.get_login_redirect_url(request)

    def get_client_ip(self, request: HttpRequest) -> str:
        """The address the sign-in rate limits count per (TRUSTED_PROXY_COUNT)."""
        return client_ip(request)

    def format_email_subject(self, subject: str) -> str:
        return subject  # render_mail names the product (not the Site's host name)

    def render_mail(self, template_prefix: str, email, context: dict, headers=None):
        """Every allauth e-mail (password reset, e-mail confirmation, security notices) in
        Chinese, then English, from "Listing AI", like the invitation."""
        from django.utils import translation

        with translation.override("zh-hans"):
            message = super().render_mail(template_prefix, email, context, headers)
            product = translation.gettext("Listing AI")
        with translation.override("en"):
            english = super().render_mail(template_prefix, email, context, headers)
        message.subject = f"[{product}] {message.subject} / {english.subject}"
        message.body = f"{message.body.rstrip()}\n\n----\n\n{english.body.lstrip()}"
        return message


class MFAAdapter(DefaultMFAAdapter):
    """TOTP secrets and recovery-code seeds are stored encrypted with FIELD_ENCRYPTION_KEYS
    (allauth stores them in clear text unless told otherwise); rotate_encryption_keys
    re-encrypts them."""

    def encrypt(self, text: str) -> str:
        return encryption.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return encryption.decrypt(encrypted_text)
