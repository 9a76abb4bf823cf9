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
        key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django raises when it is empty
        return [Error("SECRET_KEY is not set.",
                      hint="Set the SECRET_KEY environment variable to a long random value.",
                      id="portal.E003")]
    weak = [name for name, value in [("SECRET_KEY", key), *(
        (f"SECRET_KEY_FALLBACKS[{n}]", old) for n, old in enumerate(
            getattr(settings, "SECRET_KEY_FALLBACKS", [])))] if is_weak_secret(value)]
    # Django's own security.W009 says the same, but as a warning the release step lets pass.
    return [Error(f"{name} is weak: anyone who guesses it can forge sessions and links.",
                  hint="Use at least 50 random characters, e.g. python -c 'import secrets; "
                       "print(secrets.token_urlsafe(64))'",
                  id="portal.E004") for name in weak]


def is_weak_secret(key: str) -> bool:
    """Django's rule for security.W009: shorter than 50, fewer than 5 different characters,
    or a key made by startproject for development."""
    return len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-")


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
                  id="portal.E006")]


HTMX = "vendor/htmx/htmx.min.js"


@register(deploy=True)
def front_end_installed(app_configs, **kwargs) -> list[Error]:
    """htmx is installed by `make install` (from npm, git-ignored): without it every page
    fails to render under the manifest static storage."""
    from django.contrib.staticfiles import finders

    if finders.find(HTMX):
        return []
    return [Error(f"{HTMX} is missing: the pages' live parts need htmx.",
                  hint="Run `make install` (npm ci, then copies htmx into static/vendor/) "
                       "before collectstatic.",
                  id="portal.E005")]
