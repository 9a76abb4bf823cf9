"""Verification documents for tests: one real (tiny) PDF of every kind staff require."""

from __future__ import annotations

from django.core.files.base import ContentFile

from tenants.models import Tenant, User, VerificationDocument

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"


def attach_documents(tenant: Tenant, uploaded_by: User | None = None) -> None:
    """Every kind of document, so that only the fields decide whether verification passes."""
    if uploaded_by is None:
        from tests.conftest import create_user

        uploaded_by = create_user()
    for kind in VerificationDocument.Kind.values:
        document = VerificationDocument(tenant=tenant, kind=kind, uploaded_by=uploaded_by)
        document.file.save(f"{kind}.pdf", ContentFile(PDF), save=False)
        document.save()
