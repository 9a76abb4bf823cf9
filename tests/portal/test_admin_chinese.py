"""The Django admin in Chinese: no English column headers or model names ("TENANT",
"Authenticators") on its change lists."""

from __future__ import annotations

import re

from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.admin import site

from tests.conftest import client_for

CJK = re.compile(r"[\u4e00-\u9fff]")
HEADER = re.compile(r'<th scope="col"[^>]*>.*?<(?:a|span)[^>]*>([^<]+)<', re.S)
SIDEBAR = re.compile(r'<th scope="row" id="[^"]+">\s*<a [^>]*>([^<]+)</a>')
KEPT = {"ID", "API", "SKU", "URL"}  # written the same in Chinese


def _english(texts):
    return sorted({t.strip() for t in texts if t.strip() and not CJK.search(t)
                   and not t.strip().isdigit() and t.strip() not in KEPT})


def test_admin_change_lists_are_chinese(world_a, platform_admin):
    TOTP.activate(world_a.owner, generate_totp_secret())
    client = client_for(platform_admin)
    found = {}
    for model in site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        html = client.get(url).content.decode()
        english = _english(HEADER.findall(html) + SIDEBAR.findall(html))
        if english:
            found[url] = english
    assert not found, f"English on the Chinese admin: {found}"
