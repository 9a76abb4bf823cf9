"""Staff MFA secrets stored before tenants.adapters.MFAAdapter (in clear text) are encrypted
with the first key of FIELD_ENCRYPTION_KEYS; values that already decrypt are left alone."""

from django.db import migrations

SECRET_KEYS = ("secret", "seed")  # TOTP secret, recovery-code seed


def encrypt_clear_secrets(apps, schema_editor):
    from portal import encryption

    Authenticator = apps.get_model("mfa", "Authenticator")
    for authenticator in Authenticator.objects.all():
        changed = False
        for name in SECRET_KEYS:
            value = authenticator.data.get(name)
            if not value:
                continue
            try:
                encryption.decrypt(value)
            except ValueError:
                authenticator.data[name] = encryption.encrypt(value)
                changed = True
        if changed:
            authenticator.save(update_fields=["data"])


def decrypt_secrets(apps, schema_editor):
    from portal import encryption

    Authenticator = apps.get_model("mfa", "Authenticator")
    for authenticator in Authenticator.objects.all():
        for name in SECRET_KEYS:
            if authenticator.data.get(name):
                authenticator.data[name] = encryption.decrypt(authenticator.data[name])
        authenticator.save(update_fields=["data"])


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_api_key_scopes_and_expiry"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(encrypt_clear_secrets, decrypt_secrets)]
