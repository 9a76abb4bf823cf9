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
