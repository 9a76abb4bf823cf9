"""Re-encrypt every secret at rest with the first key of FIELD_ENCRYPTION_KEYS: the
EncryptedTextFields (marketplace tokens, model API keys) and the staff's MFA secrets (TOTP
secrets and recovery-code seeds, inside allauth's Authenticator.data).

Rotation: put a new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), deploy,
run this command, then remove the old keys. Safe to run again: values already encrypted with
the first key are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from allauth.mfa.models import Authenticator
from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router, transaction
from django.db.models import Model

from portal.encryption import EncryptedTextField, rotate

BATCH = 500
# The keys of Authenticator.data that tenants.adapters.MFAAdapter encrypts.
MFA_SECRET_KEYS = ("secret", "seed")


@dataclass
class FieldCount:
    label: str
    rotated: int = 0
    current: int = 0
    unreadable: int = 0


def encrypted_fields() -> list[tuple[type[Model], EncryptedTextField]]:
    """Every EncryptedTextField of every concrete model, found through the app registry."""
    return [(model, field) for model in apps.get_models()
            if not model._meta.proxy and model._meta.managed
            for field in model._meta.concrete_fields if isinstance(field, EncryptedTextField)]


def rotate_field(model: type[Model], field: EncryptedTextField) -> FieldCount:
    """Reads and writes the stored ciphertext with SQL: the ORM would decrypt it on the way."""
    primary_key = Fernet(settings.FIELD_ENCRYPTION_KEYS[0])
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    table, column, pk = (quote(model._meta.db_table), quote(field.column),
                         quote(model._meta.pk.column))
    count = FieldCount(f"{model._meta.label}.{field.name}")
    last_pk = None
    while True:
        with connection.cursor() as cursor:
            after = f"AND {pk} > %s" if last_pk is not None else ""
            cursor.execute(
                f"SELECT {pk}, {column} FROM {table} "  # noqa: S608 (quoted identifiers)
                f"WHERE {column} IS NOT NULL AND {column} <> '' {after} ORDER BY {pk} LIMIT %s",
                [last_pk, BATCH] if last_pk is not None else [BATCH])
            rows = cursor.fetchall()
        if not rows:
            return count
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            for row_pk, ciphertext in rows:
                try:
                    primary_key.decrypt(ciphertext.encode())
                    count.current += 1
                    continue
                except InvalidToken:
                    pass
                try:
                    fresh = rotate(ciphertext)
                except InvalidToken:
                    count.unreadable += 1
                    continue
                # Compare-and-set: a value changed meanwhile is already under the new key.
                cursor.execute(
                    f"UPDATE {table} SET {column} = %s "  # noqa: S608
                    f"WHERE {pk} = %s AND {column} = %s", [fresh, row_pk, ciphertext])
                count.rotated += cursor.rowcount
        last_pk = rows[-1][0]


def rotate_mfa_secrets() -> FieldCount:
    """The same for the secrets allauth keeps inside Authenticator.data (JSON)."""
    primary_key = Fernet(settings.FIELD_ENCRYPTION_KEYS[0])
    count = FieldCount("mfa.Authenticator.data")
    for pk, data in Authenticator.objects.values_list("pk", "data").iterator():
        fresh = dict(data)
        for name in MFA_SECRET_KEYS:
            if not data.get(name):
                continue
            try:
                primary_key.decrypt(data[name].encode())
                count.current += 1
                continue
            except InvalidToken:
                pass
            try:
                fresh[name] = rotate(data[name])
            except InvalidToken:
                count.unreadable += 1
        if fresh != data:  # compare-and-set, as above
            count.rotated += Authenticator.objects.filter(pk=pk, data=data).update(data=fresh)
    return count


class Command(BaseCommand):
    help = ("Re-encrypt every encrypted field (marketplace tokens, ...) with the first key of "
            "FIELD_ENCRYPTION_KEYS. Idempotent.")

    def handle(self, *args, **options) -> None:
        if not settings.FIELD_ENCRYPTION_KEYS:
            raise CommandError("FIELD_ENCRYPTION_KEYS is empty: set at least one key.")
        fields = encrypted_fields()
        unreadable = 0
        counts = [rotate_field(model, field) for model, field in fields]
        for count in [*counts, rotate_mfa_secrets()]:
            unreadable += count.unreadable
            self.stdout.write(f"{count.label}: {count.rotated} re-encrypted, "
                              f"{count.current} already on the first key, "
                              f"{count.unreadable} unreadable")
        self.stdout.write(f"{len(fields)} encrypted field(s) checked.")
        if unreadable:
            raise CommandError(
                f"{unreadable} value(s) cannot be decrypted with any configured key; put back "
                "the key they were encrypted with and run the command again.")
