"""`manage.py check --deploy` must be clean with a production-like environment."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection
from django.test import override_settings

MANAGE = settings.BASE_DIR / "manage.py"


def production_env(**overrides: str) -> dict[str, str]:
    db = connection.settings_dict
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "listing-ai.example.com",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    env.update(overrides)
    return env


def run_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(MANAGE), "check", "--deploy", "--fail-level", "WARNING"],
        env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120,
    )


def test_deploy_check_is_clean_in_production():
    result = run_check(production_env())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output.upper(), output
    assert "System check identified no issues" in output, output


def test_deploy_check_notices_a_debug_production():
    """The control: the same check does fail on a real problem (DEBUG on)."""
    result = run_check(production_env(DEBUG="1"))
    assert result.returncode != 0
    assert "security.W018" in result.stdout + result.stderr


@pytest.mark.parametrize("keys", ["", "not-a-fernet-key"])
def test_production_needs_valid_encryption_keys(keys):
    result = run_check(production_env(FIELD_ENCRYPTION_KEYS=keys))
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stdout + result.stderr


def test_the_web_process_refuses_to_start_without_a_secret_key():
    env = production_env()
    del env["SECRET_KEY"]
    result = subprocess.run([sys.executable, "-c", "import config.wsgi"], env=env,
                            cwd=settings.BASE_DIR / "platform", capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_makemigrations_needs_no_secret_key():
    env = production_env()
    del env["SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, str(MANAGE), "makemigrations", "--check", "--dry-run"],
        env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = production_env()
    del env["SECRET_KEY"]
    result = run_check(env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.parametrize("key", ["short-key", "a" * 80, "django-insecure-" + "x1y2z3" * 10])
def test_the_release_step_refuses_a_weak_secret_key(key):
    """The release step runs `check --deploy --fail-level ERROR`: Django's W009 alone let a
    weak key through."""
    result = subprocess.run(
        [sys.executable, str(MANAGE), "check", "--deploy", "--fail-level", "ERROR"],
        env=production_env(SECRET_KEY=key), cwd=settings.BASE_DIR, capture_output=True,
        text=True, timeout=120)
    assert result.returncode != 0
    assert "portal.E004" in result.stdout + result.stderr


def test_a_weak_fallback_key_is_refused_too():
    from portal.checks import secret_key

    with override_settings(SECRET_KEY=secrets.token_urlsafe(64), SECRET_KEY_FALLBACKS=["old"]):
        assert [error.id for error in secret_key(None)] == ["portal.E004"]
    with override_settings(SECRET_KEY=secrets.token_urlsafe(64), SECRET_KEY_FALLBACKS=[]):
        assert secret_key(None) == []


def test_a_deploy_without_htmx_is_refused(tmp_path):
    from portal.checks import front_end_installed

    assert front_end_installed(None) == []  # `make install` put it in static/vendor/
    with override_settings(STATICFILES_DIRS=[tmp_path]):
        assert [error.id for error in front_end_installed(None)] == ["portal.E005"]
