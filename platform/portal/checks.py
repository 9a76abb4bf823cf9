"""Deploy checks (`manage.py check --deploy`, run by the release step) for settings that would
otherwise fail only at the first request."""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security, deploy=True)
def secret_key(app_configs, **kwargs) -> list[Error]:
    try:
        settings.SECRET_KEY  # noqa: B018  Django raises when it is empty
    except ImproperlyConfigured:
        return [Error("SECRET_KEY is not set.",
                      hint="Set the SECRET_KEY environment variable to a long random value.",
                      id="portal.E003")]
    return []


@register(Tags.security, deploy=True)
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


@register(deploy=True)
def database_url(app_configs, **kwargs) -> list[Error]:
    if settings.DATABASE_URL:
        return []
    return [Error("DATABASE_URL is not set: only the local demo may use the embedded PostgreSQL.",
                  hint="Set DATABASE_URL to the production database, "
                       "postgres://user:password@host:5432/name.",
                  id="portal.E004")]
