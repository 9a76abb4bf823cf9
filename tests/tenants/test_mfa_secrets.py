"""Staff MFA secrets (TOTP secrets, recovery-code seeds) are encrypted at rest with
FIELD_ENCRYPTION_KEYS, re-encrypted by rotate_encryption_keys, and found in no dump."""

from __future__ import annotations

import importlib
from io import StringIO

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from tests.conftest import create_staff
from tests.tenants.test_sign_in import LOGIN, PASSWORD, browser, current_code, signed_in_user_id

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture
def staff_with_secrets(settings, db):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    staff = create_staff(with_totp=False)
    secret = generate_totp_secret()
    TOTP.activate(staff, secret)
    codes = RecoveryCodes.activate(staff)
    return staff, secret, codes.get_unused_codes()


def database_dump() -> str:
    """What a dump of the authenticators table holds, as text."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(a)::text FROM mfa_authenticator a")
        return "\n".join(row[0] for row in cursor.fetchall())


def test_a_dump_holds_no_totp_secret_nor_recovery_seed(staff_with_secrets):
    staff, secret, codes = staff_with_secrets
    dump = database_dump()
    assert f'"user_id":{staff.pk}' in dump  # the positive control: the rows are there
    assert secret not in dump
    seed = RecoveryCodes(Authenticator.objects.get(
        user=staff, type=Authenticator.Type.RECOVERY_CODES)).get_unused_codes()
    assert all(code not in dump for code in [*codes, *seed])
    stored = Authenticator.objects.get(user=staff, type=Authenticator.Type.TOTP)
    assert Fernet(OLD_KEY).decrypt(stored.data["secret"].encode()).decode() == secret


def test_staff_still_sign_in_with_the_encrypted_secret(staff_with_secrets):
    staff, secret, codes = staff_with_secrets
    client = browser()
    client.post(LOGIN, {"login": staff.email, "password": PASSWORD})
    client.post("/accounts/2fa/authenticate/", {"code": current_code(secret)})
    assert signed_in_user_id(client) == str(staff.pk)
    other = browser()
    other.post(LOGIN, {"login": staff.email, "password": PASSWORD})
    other.post("/accounts/2fa/authenticate/", {"code": codes[0]})  # a recovery code works too
    assert signed_in_user_id(other) == str(staff.pk)


def test_rotation_moves_the_mfa_secrets_to_the_new_key(staff_with_secrets, settings):
    staff, secret, codes = staff_with_secrets
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "mfa.Authenticator.data: 2 re-encrypted" in out.getvalue()
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]  # the old key can go
    stored = Authenticator.objects.get(user=staff, type=Authenticator.Type.TOTP)
    assert Fernet(NEW_KEY).decrypt(stored.data["secret"].encode()).decode() == secret
    assert RecoveryCodes(Authenticator.objects.get(
        user=staff, type=Authenticator.Type.RECOVERY_CODES)).get_unused_codes() == codes
    again = StringIO()
    call_command("rotate_encryption_keys", stdout=again)
    assert "mfa.Authenticator.data: 0 re-encrypted, 2 already on the first key" in \
        again.getvalue()


def test_the_migration_encrypts_secrets_stored_in_clear_text(staff_with_secrets):
    staff, secret, _codes = staff_with_secrets
    Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).update(
        data={"secret": secret})  # as allauth stored it before
    migration = importlib.import_module("tenants.migrations.0004_encrypt_mfa_secrets")
    migration.encrypt_clear_secrets(apps, None)
    migration.encrypt_clear_secrets(apps, None)  # idempotent: encrypted values stay
    stored = Authenticator.objects.get(user=staff, type=Authenticator.Type.TOTP)
    assert Fernet(OLD_KEY).decrypt(stored.data["secret"].encode()).decode() == secret
    assert secret not in database_dump()
