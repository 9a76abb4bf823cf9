"""The catalog page: search, filters, pagination, quality badges, the latest sync of each
store, "Sync now" with its permissions, and the live-progress endpoint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalog.models import Product, QualityFlag, SyncRun
from sandbox import pool, shops
from stores.models import Store
from tenants.models import Tenant
from tenants.roles import TenantRole
from tenants.scope import tenant_scope
from tests.catalog.conftest import sync
from tests.conftest import add_member, client_for, english_client

SHOP_300 = shops.SHOPS[shops.TEMU_SHOP_300]
ROW = re.compile(r'<tr>\s*<td>([A-Z0-9]+-\d+-\d+)<br>')


HTMX = {"HX-Request": "true"}  # what htmx sends with its requests


@pytest.fixture
def owner_client(tenant_a, owner_a) -> Client:
    return english_client(owner_a, tenant_a)


def skus_on(response) -> list[str]:
    assert response.status_code == 200
    return ROW.findall(response.content.decode())


def test_the_page_lists_50_products_per_page(synced_300, owner_client):
    first = skus_on(owner_client.get(reverse("catalog")))
    second = skus_on(owner_client.get(reverse("catalog"), {"page": 2}))
    last = skus_on(owner_client.get(reverse("catalog"), {"page": 6}))
    assert len(first) == len(second) == len(last) == 50
    assert not set(first) & set(second)
    everything = set()
    for number in range(1, 7):
        everything |= set(skus_on(owner_client.get(reverse("catalog"), {"page": number})))
    assert len(everything) == 300
    page = owner_client.get(reverse("catalog")).content.decode()
    assert "300 products" in page and "Page 1 of 6" in page


def test_search_by_sku_title_and_goods_id(synced_300, owner_client):
    item = pool.product(SHOP_300.shop_id, SHOP_300.seed, 7)
    assert skus_on(owner_client.get(reverse("catalog"), {"q": item.sku})) == [item.sku]
    assert skus_on(owner_client.get(reverse("catalog"), {"q": str(item.goods_id)})) == [item.sku]
    by_title = skus_on(owner_client.get(reverse("catalog"), {"q": item.title.lower()}))
    assert item.sku in by_title
    expected = Product.unscoped.filter(store=synced_300, title__icontains=item.title).count()
    assert len(by_title) == min(expected, 50)
    empty = owner_client.get(reverse("catalog"), {"q": "no-such-product-anywhere"})
    assert skus_on(empty) == [] and "No product matches these filters." in empty.content.decode()


@pytest.mark.parametrize("flag", QualityFlag.values)
def test_filter_by_quality_flag(synced_300, owner_client, flag):
    with tenant_scope(synced_300.tenant):
        expected = sorted(p.sku for p in Product.objects.all() if flag in p.quality_flags)
    shown = []
    page = 1
    while True:
        response = owner_client.get(reverse("catalog"), {"flag": flag, "page": page})
        shown += skus_on(response)
        if f"page={page + 1}" not in response.content.decode():
            break
        page += 1
    assert sorted(shown) == expected
    # The pool gives every product an image; blur and near-duplicates are found only by the
    # images app's inspection on the pixels (tests/images), never by sync.
    if flag not in (QualityFlag.NO_IMAGE, QualityFlag.BLURRY_IMAGE, QualityFlag.DUPLICATE_IMAGE):
        assert expected


def test_filter_by_category_and_store(synced_300, owner_client, sandbox, tenant_a, owner_a):
    from tests.catalog.conftest import connect_store

    other = connect_store(sandbox, tenant_a, owner_a, shops.TEMU_SHOP_READ_ONLY)
    sync(other)
    category = Product.unscoped.filter(store=synced_300).values_list("category", flat=True)[0]
    expected = Product.unscoped.filter(store=synced_300, category=category).count()
    response = owner_client.get(reverse("catalog"), {"store": synced_300.pk,
                                                     "category": category})
    assert f"{expected} products" in response.content.decode()
    only_other = owner_client.get(reverse("catalog"), {"store": other.pk})
    assert f"{Product.unscoped.filter(store=other).count()} products" in \
        only_other.content.decode()
    assert set(skus_on(only_other)) <= set(
        Product.unscoped.filter(store=other).values_list("sku", flat=True))


def test_invalid_filters_are_ignored(synced_300, owner_client):
    response = owner_client.get(reverse("catalog"), {"store": "x", "flag": "nonsense",
                                                     "page": "999"})
    assert response.status_code == 200
    assert "300 products" in response.content.decode()


def test_products_show_their_flags_as_badges_with_their_meaning(synced_300, owner_client):
    flagged = Product.unscoped.filter(store=synced_300,
                                      quality_flags__contains=["low_resolution_image"]).first()
    page = owner_client.get(reverse("catalog"), {"q": flagged.sku}).content.decode()
    assert 'data-flag="low_resolution_image"' in page
    assert "Main image under 1200 px wide" in page
    assert "ERR_VS_402" in page  # the meaning, in the badge's title and the legend
    clean = Product.unscoped.filter(store=synced_300, quality_flags=[]).first()
    page = owner_client.get(reverse("catalog"), {"q": clean.sku}).content.decode()
    assert "Good input" in page


def test_the_latest_sync_per_store_is_shown(synced_300, owner_client):
    page = owner_client.get(reverse("catalog")).content.decode()
    assert "300 new, 0 updated, 0 unchanged; 300 SKUs on the marketplace" in page
    assert "badge-succeeded" in page
    sync(synced_300)
    page = owner_client.get(reverse("catalog")).content.decode()
    assert "0 new, 0 updated, 300 unchanged; 300 SKUs on the marketplace" in page


def test_skus_over_the_limit_are_reported_on_the_page(store_over_limit, owner_client):
    sync(store_over_limit)
    page = owner_client.get(reverse("catalog")).content.decode()
    assert "ERR_SKU_LIMIT" in page
    assert ("200 SKUs are beyond your pack's limit of 5000 SKUs per store and were not "
            "synced.") in page


def test_a_failed_sync_is_explained(store_300, sandbox, owner_client):
    sandbox.state.fail_next("ip_not_whitelisted")
    sync(store_300)
    page = owner_client.get(reverse("catalog")).content.decode()
    assert "ERR_IP_NOT_WHITELISTED" in page
    assert "IP whitelist" in page


def test_the_page_in_chinese(synced_300, tenant_a, owner_a):
    page = client_for(owner_a, tenant_a).get(reverse("catalog")).content.decode()
    assert "商品" in page


# Sync now ------------------------------------------------------------------------------------

def test_sync_now_queues_a_run_and_reports_a_running_one(store_300, owner_client, owner_a):
    response = owner_client.post(reverse("catalog_sync_now", args=[store_300.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("catalog")
    run = SyncRun.unscoped.get(store=store_300)
    assert (run.status, run.requested_by) == (SyncRun.Status.QUEUED, owner_a)

    page = owner_client.get(reverse("catalog")).content.decode()
    assert "Sync of" in page and "started" in page
    progress_url = reverse("catalog_sync_progress", args=[run.pk])
    assert f'hx-get="{progress_url}" hx-trigger="every 1500ms"' in page  # only while active

    again = owner_client.post(reverse("catalog_sync_now", args=[store_300.pk]), follow=True)
    assert "already under way" in again.content.decode()
    assert SyncRun.unscoped.filter(store=store_300).count() == 1


def test_sync_now_goes_back_to_a_safe_next_page(store_300, owner_client):
    detail = f"/portal/stores/{store_300.pk}/"
    response = owner_client.post(reverse("catalog_sync_now", args=[store_300.pk]),
                                 {"next": detail})
    assert response["Location"] == detail
    SyncRun.unscoped.all().delete()
    response = owner_client.post(reverse("catalog_sync_now", args=[store_300.pk]),
                                 {"next": "https://evil.example/"})
    assert response["Location"] == reverse("catalog")


def test_no_poller_when_nothing_runs(synced_300, owner_client):
    assert "hx-trigger" not in owner_client.get(reverse("catalog")).content.decode()


def test_an_unauthorized_store_cannot_be_synced(store_300, owner_client):
    Store.unscoped.filter(pk=store_300.pk).update(status=Store.Status.REVOKED, access_token="")
    response = owner_client.post(reverse("catalog_sync_now", args=[store_300.pk]), follow=True)
    assert "not authorized" in response.content.decode()
    assert not SyncRun.unscoped.exists()


@pytest.mark.parametrize("role", [TenantRole.VIEWER, TenantRole.REVIEWER])
def test_members_who_cannot_start_work_cannot_sync(store_300, tenant_a, role):
    member = add_member(tenant_a, role)
    client = client_for(member, tenant_a)
    assert client.post(reverse("catalog_sync_now", args=[store_300.pk])).status_code == 403
    assert not SyncRun.unscoped.exists()
    page = client.get(reverse("catalog")).content.decode()
    assert "catalog_sync_now" not in page and f"/stores/{store_300.pk}/sync/" not in page


def test_an_operator_can_sync(store_300, tenant_a):
    operator = add_member(tenant_a, TenantRole.OPERATOR)
    response = client_for(operator, tenant_a).post(
        reverse("catalog_sync_now", args=[store_300.pk]))
    assert response.status_code == 302
    assert SyncRun.unscoped.filter(store=store_300).count() == 1


def test_a_suspended_tenant_cannot_sync(store_300, tenant_a, owner_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(status=Tenant.Status.SUSPENDED)
    client = client_for(owner_a, tenant_a)
    assert client.post(reverse("catalog_sync_now", args=[store_300.pk])).status_code == 403
    assert not SyncRun.unscoped.exists()
    assert client.get(reverse("catalog")).status_code == 200  # still readable


def test_sync_now_is_post_only(store_300, owner_client):
    assert owner_client.get(reverse("catalog_sync_now", args=[store_300.pk])).status_code == 405


def test_another_tenants_store_cannot_be_synced(store_300, tenant_b, owner_b):
    response = client_for(owner_b, tenant_b).post(reverse("catalog_sync_now",
                                                          args=[store_300.pk]))
    assert response.status_code == 404
    assert not SyncRun.unscoped.exists()


# Live progress -------------------------------------------------------------------------------

def test_progress_endpoint_reports_the_run(store_300, owner_client, tenant_b, owner_b):
    with tenant_scope(store_300.tenant):
        run = SyncRun.objects.create(store=store_300, status=SyncRun.Status.RUNNING,
                                     heartbeat_at=timezone.now(), sku_limit=5000, pages=2,
                                     total_reported=300, created=150, unchanged=50)
    url = reverse("catalog_sync_progress", args=[run.pk])
    response = owner_client.get(url, headers=HTMX)
    fragment = response.content.decode()
    assert response.status_code == 200 and "<html" not in fragment
    assert response["Vary"].startswith("HX-Request")
    assert 'value="66"' in fragment and "200 of 300 SKUs, 2 pages" in fragment
    assert f'hx-get="{url}"' in fragment  # polled again while active
    # Without htmx the address is the store's products.
    assert owner_client.get(url)["Location"] == f"{reverse('catalog')}?store={store_300.pk}"

    SyncRun.unscoped.filter(pk=run.pk).update(status=SyncRun.Status.SUCCEEDED)
    assert owner_client.get(url, headers=HTMX)["HX-Refresh"] == "true"  # reload the page

    other = client_for(owner_b, tenant_b)
    assert other.get(url, headers=HTMX).status_code == 404


def test_htmx_is_installed_from_npm_and_kept_out_of_git(owner_client):
    from django.contrib.staticfiles import finders

    path = finders.find("vendor/htmx/htmx.min.js")
    assert path, "run `make install`: it copies htmx from node_modules"
    assert 'version:"2.0.8"' in Path(path).read_text(encoding="utf-8").replace(" ", "")
    assert not finders.find("js/sync_progress.js") and not finders.find("js/generation.js")
    page = owner_client.get(reverse("catalog")).content.decode()
    assert "vendor/htmx/htmx.min.js" in page and '"includeIndicatorStyles": false' in page


# The store page's sync panel ------------------------------------------------------------------

def test_the_store_page_shows_its_sync_panel(synced_300, owner_client):
    page = owner_client.get(reverse("store_detail", args=[synced_300.pk])).content.decode()
    assert "Product sync" in page
    assert "300 new, 0 updated, 0 unchanged" in page
    assert reverse("catalog_sync_now", args=[synced_300.pk]) in page
    assert f"?store={synced_300.pk}" in page
