"""Shared fixtures: tenants, members and staff on the real PostgreSQL test database."""

from __future__ import annotations

import itertools

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from generation.nodes import forget_enabled_nodes
from generation.pipeline import forget_cached_jobs
from tenants.models import Membership, Tenant, User
from tenants.roles import StaffRole, TenantRole

PASSWORD = "correct-horse-battery-staple-42"
_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The cache holds allauth's rate-limit counters; tests must not inherit them.
    cache.clear()
    forget_enabled_nodes()  # each worker process's copies of nodes and jobs
    forget_cached_jobs()
    yield


def create_user(email: str | None = None, **fields) -> User:
    email = email or f"user{next(_counter)}@example.com"
    user = User.objects.create_user(email=email, password=PASSWORD, **fields)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def create_tenant(name: str, *, status: str = Tenant.Status.ACTIVE, **fields) -> Tenant:
    slug = fields.pop("slug", None) or f"{name.lower().replace(' ', '-')}-{next(_counter)}"
    return Tenant.objects.create(name=name, slug=slug, status=status, **fields)


def add_member(tenant: Tenant, role: str = TenantRole.OWNER, email: str | None = None) -> User:
    user = create_user(email)
    Membership.unscoped.create(tenant=tenant, user=user, role=role)
    return user


def create_staff(role: str = StaffRole.PLATFORM_ADMIN, *, with_totp: bool = True) -> User:
    user = create_user(staff_role=role, is_staff=True,
                       is_superuser=role == StaffRole.PLATFORM_ADMIN)
    if with_totp:
        TOTP.activate(user, generate_totp_secret())
    return user


@pytest.fixture
def eager_celery(monkeypatch):
    """Run Celery tasks in-process when they are enqueued (after commit), errors raised."""
    from config.celery import app as celery_app

    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)


def owner_key(tenant: Tenant, user: User, name: str = "ERP") -> str:
    """A new owner-role API key of `user` in `tenant`, as a program presents it."""
    from tenants.api_keys import create_api_key
    from tenants.scope import tenant_scope

    with tenant_scope(tenant):
        return create_api_key(created_by=user, name=name, role=TenantRole.OWNER).raw_key


def client_for(user: User, tenant: Tenant | None = None) -> Client:
    client = Client()
    client.force_login(user)
    if tenant is not None:
        session = client.session
        session["tenant_id"] = tenant.pk
        session.save()
    return client


def english_client(user: User, tenant: Tenant | None = None) -> Client:
    """Signed in, with English pages (the default language is Simplified Chinese)."""
    client = client_for(user, tenant)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def tenant_a(db) -> Tenant:
    return create_tenant("Alpha Trading", licence_number="91330000ALPHA", legal_representative="Li")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return create_tenant("Beta Gadgets", licence_number="91440000BETA", legal_representative="Wu")


@pytest.fixture
def owner_a(tenant_a) -> User:
    return add_member(tenant_a, TenantRole.OWNER)


@pytest.fixture
def owner_b(tenant_b) -> User:
    return add_member(tenant_b, TenantRole.OWNER)


@pytest.fixture
def platform_admin(db) -> User:
    return create_staff(StaffRole.PLATFORM_ADMIN)


# -- Marketplace sandbox ----------------------------------------------------------------------
# `marketplace_sandbox` (session): the sandbox HTTP server (sandbox.marketplace), started once
#   on a free port of 127.0.0.1. `.url`, `.temu_gateway_url`, `.aliexpress_gateway_url`, `.state`.
# `sandbox` (function): the same server with its state reset (no codes, tokens, failures or
#   recorded updates), and settings pointed at it: MARKETPLACE_GATEWAY_OVERRIDES and
#   MARKETPLACE_APPS (the sandbox's fixed app keys), so connector_for(site, token) talks to it.
#   It also clears the marketplace request limits in Redis (daily budgets, per-second windows).
#   Typical use:
#       code = sandbox.state.issue_code(TEMU_SHOP_300)          # from sandbox.shops
#       token = sandbox.state.issue_token(TEMU_SHOP_300).token  # skip the code exchange
#       sandbox.state.fail_next("html")                         # see sandbox.state.FAILURE_KINDS
#       sandbox.state.updates                                   # every update received


@pytest.fixture(scope="session")
def marketplace_sandbox():
    from sandbox.marketplace import start_sandbox

    running = start_sandbox()
    yield running
    running.stop()


@pytest.fixture
def sandbox(marketplace_sandbox, settings):
    from marketplaces import limits
    from sandbox import shops

    marketplace_sandbox.state.reset()
    settings.MARKETPLACE_GATEWAY_OVERRIDES = {
        "temu": marketplace_sandbox.temu_gateway_url,
        "aliexpress": marketplace_sandbox.aliexpress_gateway_url,
    }
    settings.MARKETPLACE_APPS = {
        "temu": {"app_key": shops.TEMU_APP_KEY, "app_secret": shops.TEMU_APP_SECRET},
        "aliexpress": {"app_key": shops.ALIEXPRESS_APP_KEY,
                       "app_secret": shops.ALIEXPRESS_APP_SECRET},
    }
    limits.clear_all()
    yield marketplace_sandbox
    marketplace_sandbox.state.reset()


# -- Model sandbox ----------------------------------------------------------------------------
# `model_sandbox` (function): the OpenAI-compatible model server (sandbox.model_api) on a free
#   port, stopped after the test. `.base_url` (for openai.OpenAI), `.url`, `.state`:
#       model_sandbox.state.set_behaviour("deepseek-chat", count=1, status=503)
#       model_sandbox.state.requests                           # every request received


@pytest.fixture
def model_sandbox():
    from sandbox.model_api import start_sandbox

    running = start_sandbox()
    yield running
    running.stop()
