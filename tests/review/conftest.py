"""Review fixtures: jobs and READY items made directly (the pipeline is not run), stores on
the marketplace sandbox for publishing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count
from typing import Any

import pytest
from django.db.models import F
from django.utils import timezone

from catalog.models import Product
from generation.models import GenerationItem, GenerationJob
from review import services
from review.models import Review
from sandbox import pool, shops
from stores.models import Store
from tenants.models import Tenant, User
from tenants.roles import TenantRole
from tenants.scope import tenant_scope
from tests.catalog.conftest import connect_store
from tests.conftest import add_member

_numbers = count(1)

TITLES = [
    "Stainless Steel Insulated Water Bottle 750 ml, Leak-Proof Lid, Keeps Drinks Cold 24 h",
    "Soft Cotton Throw Blanket 130 x 170 cm, Machine Washable, Grey Herringbone Pattern",
    "Wireless Bluetooth Earbuds with Charging Case, 30 h Playtime, IPX5 Sweat Resistant",
    "Bamboo Cutting Board Set of 3 with Juice Groove, Knife Friendly Surface, Easy Grip",
    "LED Desk Lamp with USB Charging Port, 5 Colour Modes, Touch Dimmer, Eye Caring Light",
]

CONTENT: dict[str, dict[str, Any]] = {
    "title": {"title": TITLES[0]},
    "bullet_points": {"bullet_points": [
        "Double-wall vacuum insulation keeps drinks cold for 24 hours",
        "Leak-proof screw lid with a carry loop for hikes and commutes",
        "Food-grade 18/8 stainless steel, free of BPA",
        "Fits most car cup holders and backpack side pockets"]},
    "search_terms": {"search_terms": ["water bottle", "insulated bottle", "steel flask"]},
    "detail_modules": {"modules": [
        {"heading": "Cold for a day", "body": "Vacuum walls keep ice for 24 hours."},
        {"heading": "Built to last", "body": "Brushed 18/8 steel resists dents and rust."}]},
    "image_description": {"alt_text": "Steel bottle on a desk",
                          "description": "A brushed steel bottle with a black lid."},
    "video_script": {"duration_seconds": 4, "voiceover": "Cold all day.",
                     "shots": [{"seconds": 2, "visual": "Bottle on ice", "caption": "24 h"}]},
    "livestream_script": {"opening": "Welcome!", "closing": "Thanks for watching.",
                          "segments": [{"topic": "Insulation", "script": "Look at this."},
                                       {"topic": "Lid", "script": "No leaks."}]},
}


def plain_store(tenant: Tenant, owner: User, **fields) -> Store:
    """A connected store that is never called (for service tests)."""
    number = next(_numbers)
    values = {"site_code": "temu-us", "display_name": f"Review Shop {number}",
              "shop_id": f"RV-{number}", "access_token": "token-not-used",
              "token_expires_at": timezone.now() + timedelta(days=30),
              "authorized_at": timezone.now(), "status": Store.Status.CONNECTED,
              "created_by": owner, **fields}
    with tenant_scope(tenant):
        return Store.objects.create(**values)


def make_product(store: Store, *, marketplace_id: str | None = None,
                 title: str = "Original listing title") -> Product:
    number = next(_numbers)
    with tenant_scope(store.tenant):
        return Product.objects.create(
            store=store, marketplace_id=marketplace_id or str(900000 + number),
            sku=f"SKU-{number}", title=title, description="Original description.",
            bullet_points=["Original bullet"], search_terms=["original"],
            content_hash="0" * 64, last_synced_at=timezone.now())


def make_job(store: Store, created_by: User, **fields) -> GenerationJob:
    with tenant_scope(store.tenant):
        return GenerationJob.objects.create(
            store=store, created_by=created_by, kinds=fields.pop("kinds", ["title"]),
            languages=fields.pop("languages", ["en"]),
            status=fields.pop("status", GenerationJob.Status.COMPLETED), **fields)


def make_item(job: GenerationJob, product: Product, *, kind: str = "title",
              language: str = "en", content: dict[str, Any] | None = None,
              needs_human_check: bool = False, enter: bool = True,
              status: str = GenerationItem.Status.READY) -> GenerationItem:
    with tenant_scope(job.tenant):
        item = GenerationItem.objects.create(
            job=job, store=job.store, product=product, kind=kind, language=language,
            status=status, content=content if content is not None else CONTENT[kind],
            needs_human_check=needs_human_check, finished_at=timezone.now())
        GenerationJob.objects.filter(pk=job.pk).update(
            items_total=F("items_total") + 1,
            items_succeeded=F("items_succeeded") + int(status == GenerationItem.Status.READY))
        if enter:
            services.enter_review(item)
    return item


def review_of(item: GenerationItem) -> Review:
    return Review.unscoped.select_related("item", "store", "job", "tenant").get(item=item)


@dataclass
class Desk:
    """Tenant A's review desk: an owner who starts jobs, a reviewer, a store and a job."""

    tenant: Tenant
    owner: User
    reviewer: User
    operator: User
    store: Store
    job: GenerationJob
    products: list[Product] = field(default_factory=list)

    def item(self, index: int = 0, **kwargs) -> GenerationItem:
        while len(self.products) <= index:
            self.products.append(make_product(self.store))
        if kwargs.get("kind", "title") == "title" and "content" not in kwargs:
            kwargs["content"] = {"title": TITLES[index % len(TITLES)]}
        return make_item(self.job, self.products[index], **kwargs)

    def review(self, index: int = 0, **kwargs) -> Review:
        return review_of(self.item(index, **kwargs))


@pytest.fixture
def reviewer_a(tenant_a) -> User:
    return add_member(tenant_a, TenantRole.REVIEWER)


@pytest.fixture
def operator_a(tenant_a) -> User:
    return add_member(tenant_a, TenantRole.OPERATOR)


@pytest.fixture
def desk(tenant_a, owner_a, reviewer_a, operator_a) -> Desk:
    store = plain_store(tenant_a, owner_a)
    return Desk(tenant_a, owner_a, reviewer_a, operator_a, store, make_job(store, owner_a))


@pytest.fixture
def sandbox_desk(sandbox, tenant_a, owner_a, reviewer_a, operator_a) -> Desk:
    """The same desk on a store authorized on the marketplace sandbox (Temu US, 300 SKUs);
    its products are real sandbox goods."""
    store = connect_store(sandbox, tenant_a, owner_a, shops.TEMU_SHOP_300)
    products = [make_product(store, marketplace_id=str(pool.goods_id_for(shops.TEMU_SHOP_300, i)))
                for i in range(5)]
    return Desk(tenant_a, owner_a, reviewer_a, operator_a, store, make_job(store, owner_a),
                products)
