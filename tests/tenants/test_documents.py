"""Verification documents: only real PDF, JPG and PNG files, checked by their content."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tenants.models import VerificationDocument
from tests.conftest import english_client

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!DOCTYPE html><html><script>alert(1)</script></html>"


def _upload(client, name: str, content: bytes):
    return client.post("/portal/company/", {
        "upload": "1", "kind": VerificationDocument.Kind.BUSINESS_LICENCE,
        "file": SimpleUploadedFile(name, content)})


@pytest.mark.parametrize(("name", "content"), [
    ("licence.png", PNG), ("licence.jpg", JPEG), ("licence.JPEG", JPEG), ("licence.pdf", PDF)])
def test_real_scans_are_accepted(tenant_a, owner_a, settings, tmp_path, name, content):
    settings.MEDIA_ROOT = tmp_path
    response = _upload(english_client(owner_a, tenant_a), name, content)
    assert response.status_code == 302
    assert VerificationDocument.unscoped.filter(tenant=tenant_a).count() == 1


@pytest.mark.parametrize(("name", "content"), [
    ("licence.png", SVG), ("licence.pdf", HTML), ("licence.jpg", b"GIF89a" + b"\x00" * 40),
    ("licence.png", PDF), ("licence.pdf", b""), ("licence.svg", SVG), ("licence", PDF)])
def test_a_file_whose_content_is_not_what_its_name_says_is_refused(tenant_a, owner_a, settings,
                                                                   tmp_path, name, content):
    settings.MEDIA_ROOT = tmp_path
    response = _upload(english_client(owner_a, tenant_a), name, content)
    assert response.status_code == 400
    errors = response.context["document_form"].errors["file"]
    assert errors and ("content is not" in errors[0] or "Upload a PDF" in errors[0]
                       or "empty" in errors[0])
    assert not VerificationDocument.unscoped.exists()
