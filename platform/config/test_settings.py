"""Settings for the test suite: real PostgreSQL and Redis (`make test` chooses them: see
portal/management/commands/with_services.py; without it, the servers on 127.0.0.1)."""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/listing_ai")
# Separate Redis databases: the cache is flushed between tests, the Celery broker is not.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("CACHE_URL", "redis://127.0.0.1:6379/15")
# Connections close after each task and request: an embedded test worker must not keep one
# open (the test database is dropped at the end).
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
# No pool in the test process either: pytest-django drops the test database at the end, which
# open pooled connections would prevent. Worker processes a test starts may turn it on.
os.environ.setdefault("DATABASE_POOL_MAX_SIZE", "0")

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLOWED_HOSTS = ["*"]
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405
IMAGES_INSPECT_AFTER_SYNC = False  # tests/images turn it on
