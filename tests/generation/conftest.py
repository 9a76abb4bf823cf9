"""Generation fixtures: a subscribed store with products of known quality, model nodes on the
model sandbox (primary, backup, vision), and a helper that runs a job's items in this process
the way the workers do."""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal

import pytest

from billing import services as billing
from catalog.models import Product
from generation import pipeline
from generation.models import GenerationItem, GenerationJob, ModelNode
from portal.shared_redis import shared_redis
from stores.models import Store
from tenants.models import Tenant, User

_numbers = itertools.count(1)

GOOD_TITLE = "Stainless Steel Insulated Water Bottle 750 ml Leak-Proof Lid Matte Black"


def make_product(store: Store, *, title: str = GOOD_TITLE, flags: list[str] | None = None,
                 category: str = "Kitchen > Drinkware") -> Product:
    number = next(_numbers)
    return Product.unscoped.create(
        tenant_id=store.tenant_id, store=store, marketplace_id=f"60{number:06d}",
        sku=f"SKU-{number}", title=title, category=category,
        description="Double-wall vacuum insulation keeps drinks cold for 24 hours.",
        attributes={"material": "stainless steel", "colour": "matte black", "capacity": "750 ml"},
        parameters={"material": "18/8 stainless steel", "capacity": "750 ml", "weight": "380 g",
                    "lid": "leak-proof screw lid"},
        images=[{"url": f"http://127.0.0.1:1/img/{number}.jpg", "width": 1600, "height": 1600}],
        content_hash=f"hash-{number}", attribute_word_count=4, parameter_completeness=100,
        main_image_width=1600, quality_flags=flags or [], last_synced_at="2026-11-01T00:00Z")


def make_store(tenant: Tenant, user: User, *, site_code: str = "temu-us") -> Store:
    number = next(_numbers)
    return Store.unscoped.create(tenant=tenant, site_code=site_code, created_by=user,
                                 display_name=f"Generation shop {number}",
                                 shop_id=f"gen-shop-{number}", status=Store.Status.HEALTHY)


@pytest.fixture
def pack(db):
    return billing.create_pack(code="standard", name="Standard", terms=billing.STANDARD_TERMS,
                               by=None)


@pytest.fixture
def small_pack(db):
    """Two included calls a day, so quota edges are reachable in a test."""
    terms = replace(billing.STANDARD_TERMS, included_calls_per_day=2,
                    overage_price_per_call=Decimal("0.80"))
    return billing.create_pack(code="small", name="Small", terms=terms, by=None)


@pytest.fixture
def store(tenant_a, owner_a, pack) -> Store:
    store = make_store(tenant_a, owner_a)
    billing.subscribe_store(store, pack, by=None)
    return store


@pytest.fixture
def products(store) -> list[Product]:
    return [make_product(store) for _ in range(3)]


@pytest.fixture(autouse=True)
def _fresh_node_state():
    """Breakers and slots live in Redis, shared by every test: start from nothing."""
    client = shared_redis()
    for key in client.scan_iter("generation-nodes:*"):
        client.delete(key)
    yield


def make_node(sandbox, name: str, model: str, *, role=ModelNode.Role.PRIMARY, priority=10,
              vision=False, deadline="3", concurrency=8) -> ModelNode:
    return ModelNode.objects.create(
        name=name, base_url=sandbox.base_url, model_name=model, api_key="sk-test",
        supports_text=not vision, supports_vision=vision, role=role, priority=priority,
        max_concurrency=concurrency, request_deadline_seconds=Decimal(deadline),
        price_cache_hit=Decimal("0.5"), price_cache_miss=Decimal("2"),
        price_output=Decimal("8"))


@pytest.fixture
def nodes(model_sandbox, db) -> dict[str, ModelNode]:
    return {
        "primary": make_node(model_sandbox, "DeepSeek primary", "deepseek-chat"),
        "backup": make_node(model_sandbox, "Self-hosted backup", "backup-chat",
                            role=ModelNode.Role.BACKUP),
        "vision": make_node(model_sandbox, "DeepSeek VL", "deepseek-vl2", vision=True),
    }


def run_job(job: GenerationJob, *, limit: int = 10_000) -> GenerationJob:
    """Run every queued or dispatched item in this process, as the workers would."""
    for _ in range(limit):
        pending = list(GenerationItem.unscoped.filter(
            job=job, status__in=(GenerationItem.Status.QUEUED, GenerationItem.Status.DISPATCHED),
        ).values_list("id", flat=True)[:100])
        if not pending:
            break
        for item_id in pending:
            pipeline.run_item(item_id)
    job.refresh_from_db()
    return job


@pytest.fixture
def fast_breaker(settings):
    settings.GENERATION_BREAKER_FAILURES = 2
    settings.GENERATION_BREAKER_COOLDOWN_SECONDS = 60
    return settings

