"""Tokens are encrypted at rest, and `manage.py rotate_encryption_keys` moves them to a new key."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from portal.management.commands.rotate_encryption_keys import encrypted_fields
from stores.models import Store
from tests.stores.conftest import TOKEN, make_store, reload

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def dump_rows() -> str:
    """What a database dump of the stores table holds: every column of every row, as text."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(s)::text FROM stores_store s")
        return "\n".join(row[0] for row in cursor.fetchall())


def stored_ciphertext(store: Store) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM stores_store WHERE id = %s", [store.pk])
        return cursor.fetchone()[0]


def rotate() -> str:
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    return out.getvalue()


@pytest.fixture
def old_key_only(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    return settings


def test_the_fields_are_found_through_the_app_registry():
    found = {f"{model._meta.label}.{field.name}" for model, field in encrypted_fields()}
    assert "stores.Store.access_token" in found


def test_a_dump_shows_no_token(old_key_only, tenant_a, owner_a):
    store = make_store(tenant_a, owner_a)
    dump = dump_rows()
    assert store.shop_id in dump  # the positive control: the row is in the dump
    assert TOKEN not in dump
    assert Fernet(OLD_KEY).decrypt(stored_ciphertext(store).encode()).decode() == TOKEN
    assert reload(store).access_token == TOKEN


def test_rotation_moves_every_token_to_the_new_key(old_key_only, tenant_a, tenant_b, owner_a,
                                                   owner_b):
    stores = [make_store(tenant_a, owner_a, shop_id="A-1"),
              make_store(tenant_a, owner_a, shop_id="A-2", access_token="second-token"),
              make_store(tenant_b, owner_b, shop_id="B-1", access_token="tenant-b-token"),
              make_store(tenant_b, owner_b, shop_id="B-2", access_token="")]
    before = {s.pk: stored_ciphertext(s) for s in stores}

    old_key_only.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    output = rotate()
    assert "stores.Store.access_token: 3 re-encrypted, 0 already on the first key, " \
           "0 unreadable" in output
    for store in stores[:3]:
        ciphertext = stored_ciphertext(store)
        assert ciphertext != before[store.pk]
        Fernet(NEW_KEY).decrypt(ciphertext.encode())  # raises if not under the new key
    assert stored_ciphertext(stores[3]) == ""

    # Idempotent: a second run changes nothing.
    after_first = {s.pk: stored_ciphertext(s) for s in stores}
    assert "0 re-encrypted, 3 already on the first key" in rotate()
    assert {s.pk: stored_ciphertext(s) for s in stores} == after_first

    # The old key can go: every token still decrypts.
    old_key_only.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert [Store.unscoped.get(pk=s.pk).access_token for s in stores] == [
        TOKEN, "second-token", "tenant-b-token", ""]
    assert TOKEN not in dump_rows()


def test_without_rotation_removing_the_old_key_breaks_reading(old_key_only, tenant_a, owner_a):
    """The control: the rotation above is what makes removing the old key safe."""
    store = make_store(tenant_a, owner_a)
    old_key_only.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    with pytest.raises(ValueError, match="cannot be read"):
        reload(store)


def test_values_no_key_can_read_are_reported(old_key_only, tenant_a, owner_a):
    store = make_store(tenant_a, owner_a)
    old_key_only.FIELD_ENCRYPTION_KEYS = [NEW_KEY]  # the old key is lost
    with pytest.raises(CommandError, match="1 value"):
        rotate()
    old_key_only.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    assert reload(store).access_token == TOKEN  # left untouched
