"""Near-duplicate main images among one store's SKUs: the sandbox's near-copies are flagged,
with the other SKU, on both products; different products are not; a changed image clears it."""

from __future__ import annotations

import imagehash
import pytest

from catalog.models import Product, QualityFlag
from images import duplicates, services
from images.models import SourceImage
from sandbox import images as sandbox_images
from sandbox import pool, shops
from tenants.scope import tenant_scope
from tests.catalog.conftest import connect_store, sync

SHOP = shops.SHOPS[shops.TEMU_SHOP_READ_ONLY]
COPY = next(i for i in range(1, SHOP.sku_count)
            if sandbox_images.is_near_copy(pool.product(SHOP.shop_id, SHOP.seed, i).goods_id, 1)
            and not pool.product(SHOP.shop_id, SHOP.seed, i).flaws
            and not pool.product(SHOP.shop_id, SHOP.seed, i - 1).flaws)
ORIGINAL = COPY - 1


@pytest.fixture
def store(sandbox, tenant_a, owner_a):
    store = connect_store(sandbox, tenant_a, owner_a, SHOP.shop_id)
    sync(store)
    return store


def product(store, index: int) -> Product:
    goods_id = pool.product(SHOP.shop_id, SHOP.seed, index).goods_id
    return Product.unscoped.get(store=store, marketplace_id=str(goods_id))


def inspect(store, *indices: int) -> None:
    with tenant_scope(store.tenant):
        for index in indices:
            services.inspect_product_images(product(store, index))


def main_of(store, index: int) -> SourceImage:
    return SourceImage.unscoped.get(product=product(store, index), position=0)


def test_near_copies_are_flagged_on_both_skus_with_the_other(store):
    inspect(store, ORIGINAL, COPY + 1, COPY)
    copy, original = product(store, COPY), product(store, ORIGINAL)
    assert QualityFlag.DUPLICATE_IMAGE.value in copy.quality_flags
    assert QualityFlag.DUPLICATE_IMAGE.value in original.quality_flags
    assert main_of(store, COPY).near_duplicate_of_id == original.pk
    assert main_of(store, ORIGINAL).near_duplicate_of_id == copy.pk
    assert main_of(store, COPY).near_duplicate_distance <= duplicates.NEAR_DUPLICATE_DISTANCE
    # The next product is a different one: not flagged.
    assert QualityFlag.DUPLICATE_IMAGE.value not in product(store, COPY + 1).quality_flags
    assert main_of(store, COPY + 1).near_duplicate_of_id is None


def test_the_database_distance_is_the_hamming_distance_of_the_hashes(store):
    inspect(store, ORIGINAL, COPY, COPY + 1, COPY + 2)
    main = main_of(store, COPY + 1)
    with tenant_scope(store.tenant):
        old = duplicates.NEAR_DUPLICATE_DISTANCE
        duplicates.NEAR_DUPLICATE_DISTANCE = 64
        try:
            found = duplicates.near_duplicates_of(product(store, COPY + 1), main)
        finally:
            duplicates.NEAR_DUPLICATE_DISTANCE = old
    mine = imagehash.hex_to_hash(main.phash)
    expected = sorted(
        (mine - imagehash.hex_to_hash(main_of(store, i).phash), product(store, i).pk)
        for i in (ORIGINAL, COPY, COPY + 2))
    assert [(item.distance, item.product_id) for item in found] == expected


def test_a_changed_image_clears_the_flag_on_the_other_sku(store):
    inspect(store, ORIGINAL, COPY)
    copy = product(store, COPY)
    far = pool.product(SHOP.shop_id, SHOP.seed, COPY + 1).images[0]
    copy.images[0]["url"] = copy.images[0]["url"].rsplit("/img/", 1)[0] + far.path
    copy.save()
    inspect(store, COPY)
    assert QualityFlag.DUPLICATE_IMAGE.value not in product(store, COPY).quality_flags
    assert QualityFlag.DUPLICATE_IMAGE.value not in product(store, ORIGINAL).quality_flags
    assert main_of(store, ORIGINAL).near_duplicate_of_id is None


def test_other_stores_images_are_not_compared(sandbox, store, tenant_b, owner_b):
    other_store = connect_store(sandbox, tenant_b, owner_b, SHOP.shop_id)
    sync(other_store)
    inspect(store, ORIGINAL)
    with tenant_scope(other_store.tenant):
        services.inspect_product_images(product(other_store, COPY))
    assert SourceImage.unscoped.get(product=product(other_store, COPY),
                                    position=0).near_duplicate_of_id is None
