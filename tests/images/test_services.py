"""Inspection after sync, over real HTTP from the marketplace sandbox into PostgreSQL: the
flags come from the pixels, unchanged images are not downloaded again, other hosts are
refused, and sync enqueues a task per changed product."""

from __future__ import annotations

import http.server
import threading

import pytest
import redis
from django.conf import settings as django_settings

from catalog.models import Product, QualityFlag
from images import fetch, services, tasks
from images.models import SourceImage
from sandbox import images as sandbox_images
from sandbox import pool, shops
from tenants.scope import tenant_scope
from tests.catalog.conftest import connect_store, sync

SHOP = shops.SHOPS[shops.TEMU_SHOP_READ_ONLY]  # 80 SKUs: a quick sync


@pytest.fixture
def store(sandbox, tenant_a, owner_a):
    store = connect_store(sandbox, tenant_a, owner_a, SHOP.shop_id)
    sync(store)
    return store


def item(index: int) -> pool.Product:
    return pool.product(SHOP.shop_id, SHOP.seed, index)


def product_for(store, index: int) -> Product:
    return Product.unscoped.get(store=store, marketplace_id=str(item(index).goods_id))


def first(predicate) -> int:
    return next(i for i in range(SHOP.sku_count) if predicate(item(i)))


def inspect(store, product: Product) -> list[SourceImage]:
    with tenant_scope(store.tenant):
        return services.inspect_product_images(product)


def test_flags_and_width_come_from_the_pixels_not_the_metadata(store):
    index = first(lambda p: p.images[0].width < 1200 and not p.images[0].has_watermark)
    product = product_for(store, index)
    # The marketplace's metadata lies: it says 2000 px and a watermark.
    product.images[0]["width"] = 2000
    product.quality_flags = [QualityFlag.WATERMARKED_IMAGE.value]
    product.main_image_width = 2000
    product.save()
    rows = inspect(store, product)
    product.refresh_from_db()
    assert product.main_image_width == item(index).images[0].width < 1200
    assert product.quality_flags == [QualityFlag.LOW_RESOLUTION_IMAGE.value]
    assert [row.position for row in rows] == list(range(len(item(index).images)))
    assert all(row.status == SourceImage.Status.INSPECTED and row.phash for row in rows)
    assert rows[0].content_type == "image/jpeg" and rows[1].content_type == "image/png"


def test_a_watermarked_main_image_is_flagged(store):
    index = first(lambda p: p.images[0].has_watermark)
    product = product_for(store, index)
    product.quality_flags = []  # as if the marketplace had said nothing
    product.save()
    inspect(store, product)
    product.refresh_from_db()
    assert QualityFlag.WATERMARKED_IMAGE.value in product.quality_flags


def test_a_blurred_main_image_is_flagged(store):
    index = first(lambda p: sandbox_images.is_blurry(p.goods_id, 1))
    product = product_for(store, index)
    inspect(store, product)
    product.refresh_from_db()
    assert QualityFlag.BLURRY_IMAGE.value in product.quality_flags


def test_unchanged_images_are_not_downloaded_again(store, sandbox, monkeypatch):
    product = product_for(store, 0)
    first_rows = inspect(store, product)
    bodies = []
    original = fetch.requests.get

    def counting_get(url, **kwargs):
        response = original(url, **kwargs)
        bodies.append((kwargs["headers"].get("If-None-Match"), response.status_code))
        return response

    monkeypatch.setattr(fetch.requests, "get", counting_get)
    again = inspect(store, product)
    assert [status for _tag, status in bodies] == [304] * len(first_rows)
    assert all(tag for tag, _status in bodies)
    assert [row.downloads for row in again] == [1] * len(first_rows)
    assert [row.inspected_at for row in again] == [row.inspected_at for row in first_rows]


def test_a_changed_image_address_is_downloaded_and_measured_again(store):
    product = product_for(store, 0)
    inspect(store, product)
    other = item(1).images[0]
    product.images[0]["url"] = product.images[0]["url"].rsplit("/img/", 1)[0] + other.path
    product.save()
    rows = inspect(store, product)
    assert rows[0].downloads == 2 and rows[0].width == other.width


def test_images_off_the_marketplace_hosts_are_refused_without_a_request(store):
    served = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            served.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.2", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        product = product_for(store, 0)
        product.images = [{"url": f"http://127.0.0.2:{server.server_port}/internal.jpg"}]
        product.save()
        rows = inspect(store, product)
    finally:
        server.shutdown()
    assert served == []
    assert rows[0].status == SourceImage.Status.FAILED and rows[0].error_code == "ERR_IMAGE_HOST"
    assert not fetch.is_allowed("file:///etc/passwd")
    assert fetch.is_allowed("https://img.kwcdn.com/product/a.jpg")
    assert fetch.is_allowed("https://ae01.alicdn.com/kf/a.jpg")
    assert not fetch.is_allowed("https://alicdn.com.evil.example/a.jpg")


def test_the_type_is_read_from_the_bytes_and_the_size_is_bounded(store, sandbox, monkeypatch):
    url = product_for(store, 0).images[0]["url"]
    monkeypatch.setattr(fetch, "MAX_BYTES", 1000)
    with pytest.raises(fetch.DownloadError) as raised:
        fetch.download(url)
    assert raised.value.code == "ERR_IMAGE_TOO_LARGE" and not raised.value.retryable
    monkeypatch.setattr(fetch, "MAX_BYTES", 10_000_000)
    assert fetch.download(url).content_type == "image/jpeg"
    # The sandbox's seller center is HTML: whatever the address says, it is no image.
    with pytest.raises(fetch.DownloadError) as raised:
        fetch.download(sandbox.url + "/seller-center/")
    assert raised.value.code == "ERR_IMAGE_TYPE"


def test_downloads_per_host_are_bounded(store, monkeypatch):
    monkeypatch.setattr(fetch, "DOWNLOADS_PER_HOST", 1)
    monkeypatch.setattr(fetch, "SLOT_WAIT_SECONDS", 0.2)
    with fetch._host_slot("127.0.0.1"), pytest.raises(fetch.DownloadError) as raised:
        fetch.download(product_for(store, 0).images[0]["url"])
    assert raised.value.code == "ERR_IMAGE_BUSY" and raised.value.retryable
    assert fetch.download(product_for(store, 0).images[0]["url"]).data


def test_sync_enqueues_one_inspection_per_changed_product(
        sandbox, tenant_a, owner_a, settings, django_capture_on_commit_callbacks):
    settings.IMAGES_INSPECT_AFTER_SYNC = True
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    broker.delete("celery")
    store = connect_store(sandbox, tenant_a, owner_a, SHOP.shop_id)
    with django_capture_on_commit_callbacks(execute=True):
        sync(store)
    assert broker.llen("celery") == SHOP.sku_count
    with django_capture_on_commit_callbacks(execute=True):
        sync(store)  # nothing changed: nothing to inspect
    assert broker.llen("celery") == SHOP.sku_count
    broker.delete("celery")


def test_the_task_inspects_in_the_tenant_scope(store, eager_celery):
    product = product_for(store, 0)
    assert tasks.inspect_product_images_task.delay(store.tenant_id, product.pk).get() == \
        len(item(0).images)
    assert SourceImage.unscoped.filter(product=product).count() == len(item(0).images)
