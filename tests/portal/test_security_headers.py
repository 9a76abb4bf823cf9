"""Every page carries the Content-Security-Policy and Permissions-Policy headers; the browser
test (tests/e2e/test_content_security_policy.py) checks that no page breaks the policy."""

from __future__ import annotations

from django.test import Client

from tests.conftest import client_for


def test_pages_and_api_answers_carry_both_policies(tenant_a, owner_a):
    signed_in = client_for(owner_a, tenant_a)
    for client, path in ((Client(), "/accounts/login/"), (signed_in, "/portal/"),
                         (Client(), "/api/v1/me/")):
        response = client.get(path)
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "style-src 'self'" in policy and "'unsafe-inline'" not in policy
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        features = response["Permissions-Policy"]
        assert "camera=()" in features and "geolocation=()" in features


def test_no_template_has_inline_script_handlers_or_styles():
    """Inline handlers and style attributes would be blocked by the policy."""
    import re
    from pathlib import Path

    from django.conf import settings

    offenders = []
    for template in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        text = template.read_text()
        if re.search(r"\son[a-z]+=|\sstyle=|<script>|<style|javascript:", text):
            offenders.append(str(template))
    assert not offenders, offenders
