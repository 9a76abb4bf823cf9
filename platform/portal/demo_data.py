"""Demo accounts and tenants: what `make run` loads so the product can be tried at once."""

from __future__ import annotations

from dataclasses import dataclass

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from allauth.mfa.utils import decrypt
from django.db import transaction

from tenants.models import Membership, Tenant, User
from tenants.roles import StaffRole, TenantRole

DEMO_PASSWORD = "demo-Listing-2026"


@dataclass(frozen=True)
class DemoAccount:
    email: str
    description: str
    totp_secret: str = ""


STAFF = [
    ("admin@isv.example.com", "ISV admin", StaffRole.PLATFORM_ADMIN),
    ("finance@isv.example.com", "ISV finance", StaffRole.FINANCE),
]

TENANTS = [
    {
        "name": "义乌优品贸易有限公司", "slug": "yiwu-youpin", "status": Tenant.Status.ACTIVE,
        "licence_number": "91330782MA2E8XXX01", "legal_representative": "王丽",
        "members": [("owner@yiwu-youpin.example.com", TenantRole.OWNER),
                    ("reviewer@yiwu-youpin.example.com", TenantRole.REVIEWER)],
    },
    {
        "name": "深圳速达数码配件有限公司", "slug": "sz-suda-3c", "status": Tenant.Status.ACTIVE,
        "licence_number": "91440300MA5G7XXX02", "legal_representative": "陈志强",
        "members": [("owner@sz-suda-3c.example.com", TenantRole.OWNER),
                    ("reviewer@sz-suda-3c.example.com", TenantRole.REVIEWER)],
    },
]


def _user(email: str, **fields) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=DEMO_PASSWORD, **fields)
    EmailAddress.objects.get_or_create(user=user, email=email,
                                       defaults={"verified": True, "primary": True})
    return user


def _totp_secret(user: User) -> str:
    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if authenticator is None:
        secret = generate_totp_secret()
        TOTP.activate(user, secret)
        return secret
    return decrypt(authenticator.data["secret"])


@transaction.atomic
def load_demo_data() -> list[DemoAccount]:
    """Create (or find again) the demo accounts; returns them for printing."""
    accounts = []
    for email, description, role in STAFF:
        is_admin = role == StaffRole.PLATFORM_ADMIN
        user = _user(email, staff_role=role, is_staff=True, is_superuser=is_admin)
        accounts.append(DemoAccount(email, description, _totp_secret(user)))
    for spec in TENANTS:
        tenant, _created = Tenant.objects.get_or_create(slug=spec["slug"], defaults={
            key: spec[key] for key in ("name", "status", "licence_number", "legal_representative")
        })
        for email, role in spec["members"]:
            user = _user(email)
            Membership.unscoped.get_or_create(tenant=tenant, user=user, defaults={"role": role})
            accounts.append(DemoAccount(email, f"{tenant.name}: {TenantRole(role).label}"))
    _load_billing()
    return accounts


def _load_billing() -> None:
    """The standard quota pack (CNY 2,880 a year, 500 calls a day, CNY 0.80 overage, 5,000
    SKUs), and an active subscription for every demo store that has none yet."""
    from billing import quota, services
    from billing.models import QuotaPack, StoreSubscription
    from stores.models import Store

    pack = QuotaPack.objects.filter(code="standard").first() or services.create_pack(
        code="standard", name="Standard", terms=services.STANDARD_TERMS, by=None)
    for store in Store.unscoped.filter(tenant__slug__in=[t["slug"] for t in TENANTS]):
        covered = StoreSubscription.unscoped.filter(
            store=store, status__in=StoreSubscription.USABLE,
            ends_on__gte=quota.local_day(store.tenant)).exists()
        if not covered:
            services.subscribe_store(store, pack, by=None)


def load_demo_generation(*, model_api_url: str, marketplace_url: str) -> None:
    """Model nodes on the model sandbox, the shipped prompt library, and one connected,
    synced and subscribed store for the first demo tenant, so a job can start at once."""
    import requests

    from catalog.services import sync_store
    from generation.instructions import ensure_default_library
    from generation.models import ModelNode
    from sandbox import shops
    from stores.models import Store
    from stores.services import add_store
    from tenants.scope import tenant_scope

    ensure_default_library()
    if not ModelNode.objects.exists():
        for name, model, role, vision in (
                ("DeepSeek (sandbox)", "deepseek-chat", ModelNode.Role.PRIMARY, False),
                ("Self-hosted vLLM (sandbox)", "vllm-deepseek", ModelNode.Role.BACKUP, False),
                ("DeepSeek-VL (sandbox)", "deepseek-vl2", ModelNode.Role.PRIMARY, True)):
            ModelNode.objects.create(name=name, base_url=model_api_url, model_name=model,
                                     api_key="sk-demo", role=role, supports_text=not vision,
                                     supports_vision=vision, max_concurrency=8,
                                     request_deadline_seconds=20)
    # A model answers in a fraction of a second, not at once: progress bars have something
    # to show.
    root = model_api_url.removesuffix("/v1")
    requests.post(f"{root}/__sandbox__/models/*/behaviour", json={"latency_ms": 400}, timeout=5)

    tenant = Tenant.objects.get(slug=TENANTS[0]["slug"])
    shop = shops.SHOPS[shops.TEMU_SHOP_300]
    with tenant_scope(tenant):
        if Store.objects.filter(shop_id=shop.shop_id).exists():
            return
        code = requests.post(f"{marketplace_url}__sandbox__/codes",
                             json={"shop_id": shop.shop_id}, timeout=5).json()["code"]
        owner = User.objects.get(email=TENANTS[0]["members"][0][0])
        store = add_store(tenant=tenant, site_code=shop.site, authorization_code=code, by=owner)
        sync_store(store, requested_by=owner)
    _load_billing()
