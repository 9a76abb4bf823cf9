"""What every invitation e-mail must look like, shared by the eager and the worker tests."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.mail import EmailMessage

CJK = re.compile(r"[\u4e00-\u9fff]")
SEPARATOR = "\n\n----\n\n"


def accept_link(token: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/invitations/{token}/"


def assert_bilingual_invitation(message: EmailMessage, *, token: str, tenant_name: str) -> None:
    """Chinese first, then English, each with the accept link; the subject in Chinese."""
    assert not CJK.search(tenant_name), "use a Latin tenant name so Chinese comes from i18n"
    link = accept_link(token)
    parts = message.body.split(SEPARATOR)
    assert len(parts) == 2, message.body
    chinese, english = parts

    assert link in english
    assert f"invites you to join {tenant_name} on Listing AI" in english
    assert "Open this link to accept:" in english

    assert link in chinese
    assert tenant_name in chinese
    assert CJK.search(chinese), f"the first part is not Chinese:\n{chinese}"
    assert "Open this link to accept" not in chinese

    assert tenant_name in message.subject
    assert CJK.search(message.subject), f"the subject is not Chinese: {message.subject}"
