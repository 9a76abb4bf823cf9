"""Every e-mail names the product and carries both languages (Chinese first), like the
invitation: the password reset read "来自127.0.0.1:8300的 Hello!"."""

from __future__ import annotations

import re

from django.core import mail
from django.test import Client
from django.urls import reverse

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_password_reset_mail_names_the_product_in_both_languages(world_a):
    response = Client().post(reverse("account_reset_password"), {"email": world_a.owner.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject.startswith("[Listing AI] ")
    assert CJK.search(message.subject) and "Password" in message.subject
    chinese, english = message.body.split("\n----\n")
    assert CJK.search(chinese) and "密码" in chinese
    assert "password reset" in english and not CJK.search(english)
    for part in (chinese, english):
        assert "Listing AI" in part
        assert "/accounts/password/reset/key/" in part
    assert "Hello from" not in message.body and "的 Hello" not in message.body
    assert "127.0.0.1" not in message.subject and "example.com" not in message.subject


def _both_languages_and_the_product(message):
    assert "Listing AI" in message.subject
    parts = message.body.split("\n----\n")
    assert len(parts) == 2, message.body
    assert CJK.search(parts[0]) and not CJK.search(parts[1])
    assert all("Listing AI" in part for part in parts), message.body


def test_the_statement_mail_names_the_product_in_both_languages(world_a):
    from billing.statements import send_statement_email

    assert send_statement_email(world_a.statement.pk, "issued") == 1
    _both_languages_and_the_product(mail.outbox[-1])


def test_the_review_notice_names_the_product(world_a):
    from review.services import _notice_text

    subject, body = _notice_text(world_a.review.item.job, 3)
    assert subject.startswith("[Listing AI] ")
    assert CJK.search(body.split("\n----\n")[0])
