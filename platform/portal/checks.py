"""System checks for settings that would otherwise fail only at the first request."""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, register


@register()
def encryption_keys(app_configs, **kwargs) -> list[Error]:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        return [Error("FIELD_ENCRYPTION_KEYS is empty: marketplace tokens cannot be stored.",
                      hint="Set it to one or more Fernet keys, newest first; make one with "
                           "python -c 'from cryptography.fernet import Fernet; "
                           "print(Fernet.generate_key().decode())'",
                      id="portal.E001")]
    errors = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            errors.append(Error(f"FIELD_ENCRYPTION_KEYS entry {position} is not a Fernet key.",
                                hint="A Fernet key is 32 url-safe base64-encoded bytes.",
                                id="portal.E002"))
    return errors
