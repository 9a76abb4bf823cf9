"""The marketplaces' main-image sizes: made from the sandbox's pixels, the product kept whole,
within the file limits, stored on the local filesystem and in a real S3 API server (moto's
server mode on localhost)."""

from __future__ import annotations

import io

import boto3
import numpy as np
import pytest
from PIL import Image, ImageDraw

from catalog.models import Product
from images import services, sizes, variants
from images.models import ImageVariant
from sandbox import images as sandbox_images
from sandbox import pool, shops
from tenants.scope import tenant_scope
from tests.catalog.conftest import connect_store, sync

TEMU = shops.SHOPS[shops.TEMU_SHOP_READ_ONLY]
ALIEXPRESS = shops.SHOPS[shops.ALIEXPRESS_SHOP_300]


def inspected_product(sandbox, tenant, owner, shop, index=0) -> Product:
    store = connect_store(sandbox, tenant, owner, shop.shop_id)
    sync(store)
    goods_id = pool.product(shop.shop_id, shop.seed, index).goods_id
    product = Product.unscoped.get(store=store, marketplace_id=str(goods_id))
    with tenant_scope(tenant):
        services.inspect_product_images(product)
    return product


def opened(variant: ImageVariant) -> Image.Image:
    with variant.file.open("rb") as handle:
        return Image.open(io.BytesIO(handle.read()))


def test_aliexpress_gets_its_three_sizes(sandbox, tenant_a, owner_a):
    product = inspected_product(sandbox, tenant_a, owner_a, ALIEXPRESS)
    made = ImageVariant.unscoped.filter(source__product=product)
    assert sorted((v.width, v.height) for v in made) == [(800, 800), (1200, 630), (1920, 600)]
    for variant in made:
        picture = opened(variant)
        assert (picture.format, picture.size) == ("JPEG", (variant.width, variant.height))
        assert variant.byte_size <= variant.max_bytes == 5 * 1024 * 1024
        assert variant.marketplace == "aliexpress"


def test_temu_gets_its_square_and_apparel_its_three_by_four(sandbox, tenant_a, owner_a):
    index = next(i for i in range(TEMU.sku_count)
                 if pool.product(TEMU.shop_id, TEMU.seed, i).category == "Apparel")
    product = inspected_product(sandbox, tenant_a, owner_a, TEMU, index)
    made = ImageVariant.unscoped.filter(source__product=product)
    assert sorted((v.width, v.height) for v in made) == [(1340, 1785), (1600, 1600)]
    assert all(v.byte_size <= 2 * 1024 * 1024 for v in made)
    assert sizes.sizes_for("temu", "Home") == sizes.TEMU


def test_unchanged_sources_are_not_remade(sandbox, tenant_a, owner_a):
    product = inspected_product(sandbox, tenant_a, owner_a, ALIEXPRESS)
    before = {v.pk: (v.file.name, v.created_at) for v in
              ImageVariant.unscoped.filter(source__product=product)}
    with tenant_scope(tenant_a):
        services.inspect_product_images(product)
    after = {v.pk: (v.file.name, v.created_at) for v in
             ImageVariant.unscoped.filter(source__product=product)}
    assert before == after and len(after) == 3


def test_the_product_is_kept_whole_on_white():
    # A square product (a thick red frame) on a flat studio background; the 3.2:1 banner must
    # hold all of it: four red sides, square, centred, on white.
    picture = Image.new("RGB", (1600, 1600), (235, 235, 235))
    ImageDraw.Draw(picture).rectangle((300, 300, 1300, 1300), outline=(200, 20, 20), width=40)
    banner = np.asarray(variants.compose(picture, sizes.Size(1920, 600, 5 * 1024 * 1024)))
    red = (banner[:, :, 0] > 150) & (banner[:, :, 1] < 90)
    rows, columns = np.nonzero(red)
    top, bottom, left, right = rows.min(), rows.max(), columns.min(), columns.max()
    assert top > 0 and bottom < 599  # not cut at the top or bottom
    assert abs((bottom - top) - (right - left)) <= 4  # still square
    assert abs((left + right) / 2 - 960) <= 4
    assert tuple(banner[5, 5]) == (255, 255, 255) and tuple(banner[300, 100]) == (255, 255, 255)


def test_a_size_that_cannot_fit_its_file_limit_is_refused():
    noisy = Image.effect_noise((800, 800), 120).convert("RGB")
    with pytest.raises(variants.VariantError) as raised:
        variants.make(noisy, sizes.Size(800, 800, 20_000))
    assert raised.value.code == "ERR_IMAGE_VARIANT_TOO_LARGE"


# -- object storage: a real S3 API over HTTP ---------------------------------------------------

@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_images(s3_server, settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket="listing-images")
    settings.STORAGES = {**settings.STORAGES, "images": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": "listing-images", "endpoint_url": s3_server,
                    "default_acl": None, "file_overwrite": True}}}
    yield client


def test_variants_live_in_s3_compatible_object_storage(sandbox, tenant_a, owner_a, s3_images):
    product = inspected_product(sandbox, tenant_a, owner_a, ALIEXPRESS)
    made = list(ImageVariant.unscoped.filter(source__product=product))
    assert len(made) == 3
    keys = {item["Key"]: item["Size"] for item in
            s3_images.list_objects_v2(Bucket="listing-images")["Contents"]}
    for variant in made:
        assert keys[variant.file.name] == variant.byte_size
        body = s3_images.get_object(Bucket="listing-images", Key=variant.file.name)["Body"]
        assert Image.open(io.BytesIO(body.read())).size == (variant.width, variant.height)


def test_sandbox_main_images_fit_every_size_quickly():
    item = pool.product(ALIEXPRESS.shop_id, ALIEXPRESS.seed, 0)
    picture = Image.open(io.BytesIO(sandbox_images.render(item, 1))).convert("RGB")
    for size in sizes.ALIEXPRESS + sizes.TEMU_APPAREL:
        made = variants.make(picture, size)
        assert Image.open(io.BytesIO(made.data)).size == (size.width, size.height)
