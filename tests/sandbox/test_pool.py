"""The sandbox's generated product pool: reproducible, realistic, flawed at the intended rates."""

from __future__ import annotations

import re

import pytest

from sandbox import pool
from sandbox.shops import SHOPS, TEMU_SHOP_5000, TEMU_SHOP_OVER_LIMIT

SHOP = SHOPS[TEMU_SHOP_5000]


@pytest.fixture(scope="module")
def products() -> list[pool.Product]:
    return pool.page(SHOP.shop_id, SHOP.seed, SHOP.sku_count, 1, SHOP.sku_count)


def test_same_seed_same_products(products):
    again = pool.page(SHOP.shop_id, SHOP.seed, SHOP.sku_count, 1, SHOP.sku_count)
    assert again == products
    other = pool.page(SHOP.shop_id, SHOP.seed + 1, SHOP.sku_count, 1, 50)
    assert [item.title for item in other] != [item.title for item in products[:50]]


def test_paging_covers_the_pool_once(products):
    pages = [pool.page(SHOP.shop_id, SHOP.seed, SHOP.sku_count, number, 100)
             for number in range(1, 52)]
    assert [len(page) for page in pages] == [100] * 50 + [0]
    assert [item for page in pages for item in page] == products
    assert len({item.goods_id for item in products}) == len({item.sku for item in products}) \
        == 5000
    assert all(pool.index_for(SHOP.shop_id, item.goods_id) == item.index for item in products)


def test_demo_shops_include_one_over_the_sku_limit():
    assert SHOPS[TEMU_SHOP_OVER_LIMIT].sku_count == 5200
    assert {shop.sku_count for shop in SHOPS.values()} >= {300, 5000, 5200}
    ids = {pool.goods_id_for(shop.shop_id, 0) for shop in SHOPS.values()}
    assert len(ids) == len(SHOPS)  # goods ids never collide between shops


def test_categories_and_realistic_fields(products):
    assert {item.category for item in products} == {"Apparel", "Home", "Beauty",
                                                     "3C Accessories"}
    for item in products[:200]:
        assert item.title and item.description and item.bullet_points and item.search_terms
        assert set(item.attributes) == {"Color", "Material", "Style"}
        assert len(item.parameters) == 10
        assert 1 <= len(item.images) - 1 <= 3
        assert float(item.price) > 0


def share(products: list[pool.Product], flaw: str) -> float:
    return sum(flaw in item.flaws for item in products) / len(products)


@pytest.mark.parametrize("flaw", list(pool.FLAW_RATES))
def test_flaws_in_the_intended_proportions(products, flaw):
    assert abs(share(products, flaw) - pool.FLAW_RATES[flaw]) < 0.02


def attribute_words(item: pool.Product) -> int:
    return sum(value in item.title for value in item.attributes.values())


def test_flaws_are_really_in_the_data(products):
    for item in products:
        filled = sum(value is not None for value in item.parameters.values())
        main = item.images[0]
        title = item.title.lower()
        assert (pool.FEW_ATTRIBUTE_WORDS in item.flaws) == (attribute_words(item) < 3) or \
            pool.TYPO in item.flaws  # a typo may break an attribute word too
        assert (pool.INCOMPLETE_PARAMETERS in item.flaws) == (filled / 10 < 0.85)
        assert (pool.LOW_RESOLUTION_IMAGE in item.flaws) == (main.width < 1200)
        assert (pool.WATERMARKED_IMAGE in item.flaws) == main.has_watermark
        assert (pool.BANNED_WORD in item.flaws) == ("best" in title or "#1" in title)
        misspelt = any(re.search(rf"(^|\s){re.escape(wrong.lower())}(\s|,|$)", title)
                       for wrong in pool.TYPOS.values())
        if pool.TYPO not in item.flaws:
            assert not misspelt, item.title


def test_typos_include_iphon(products):
    assert any(re.search(r"\biphon\b", item.title) for item in products
               if pool.TYPO in item.flaws)


def test_images_other_than_the_main_one_are_clean(products):
    assert all(not image.has_watermark for item in products for image in item.images[1:])
