"""Which SKUs a job covers (issue 12): an empty list is an error, never "all"; the whole store
is asked for explicitly; no job covers more SKUs than the SKU limit of the store's pack."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.urls import reverse

from billing import services as billing
from billing.models import DailyUsage
from generation.models import GenerationJob
from tests.conftest import english_client
from tests.generation.conftest import make_product, make_store
from tests.generation.test_api import api_client, post
from tests.portal.test_api import assert_error_shape

BASE = {"kinds": ["title"], "languages": ["en"]}


@pytest.fixture
def api_a(tenant_a, owner_a):
    return api_client(tenant_a, owner_a)


def test_an_empty_product_list_is_an_error_not_every_sku(api_a, store, products):
    for url in ("/api/v1/jobs/", "/api/v1/jobs/estimate/"):
        body = assert_error_shape(post(api_a, url, {"store": store.pk, "product_ids": [],
                                                    **BASE}), 400, "no_skus_chosen")
        assert body["message"] == "Choose at least one SKU."
        assert body["details"]["product_ids"] == ["Choose at least one SKU."]
    assert not GenerationJob.unscoped.exists()
    assert not DailyUsage.unscoped.exists()


def test_the_error_reads_in_chinese(tenant_a, owner_a, store, products):
    from django.test import Client

    from tenants import api_keys
    from tenants.scope import tenant_scope

    with tenant_scope(tenant_a):
        raw = api_keys.create_api_key(created_by=owner_a, name="ERP", role="owner").raw_key
    chinese = Client(HTTP_AUTHORIZATION=f"Api-Key {raw}", HTTP_ACCEPT_LANGUAGE="zh-hans")
    body = assert_error_shape(post(chinese, "/api/v1/jobs/", {
        "store": store.pk, "product_ids": [], **BASE}), 400, "no_skus_chosen")
    assert body["message"] == "请至少选择一个 SKU。"


def test_asking_for_nothing_is_an_error_and_the_whole_store_is_asked_for(api_a, store,
                                                                          products):
    body = assert_error_shape(post(api_a, "/api/v1/jobs/", {"store": store.pk, **BASE}), 400,
                              "no_skus_chosen")
    assert "choose every SKU of the store" in body["message"]
    both = post(api_a, "/api/v1/jobs/", {"store": store.pk, "product_ids": [products[0].pk],
                                         "all": True, **BASE})
    assert_error_shape(both, 400, "ambiguous_selection")
    assert not GenerationJob.unscoped.exists()

    whole = post(api_a, "/api/v1/jobs/", {"store": store.pk, "all": True, **BASE})
    assert whole.status_code == 201, whole.content
    assert whole.json()["items_total"] == 3 and whole.json()["selection"] == {"all": True}
    one = post(api_a, "/api/v1/jobs/", {"store": store.pk, "q": products[1].sku, **BASE})
    assert one.status_code == 201 and one.json()["items_total"] == 1


def test_the_portal_form_needs_a_choice_too(tenant_a, owner_a, store, products):
    client = english_client(owner_a, tenant_a)
    form = {"store": store.pk, "kinds": ["title"], "languages": ["en"], "action": "start"}
    page = client.post(reverse("job_new"), form)
    assert page.status_code == 200
    assert "Choose at least one SKU" in page.content.decode()
    assert not GenerationJob.unscoped.exists()
    started = client.post(reverse("job_new"), {**form, "all_skus": "on"})
    assert started.status_code == 302
    assert GenerationJob.unscoped.get().items_total == 3


@pytest.fixture
def tiny_pack(db):
    return billing.create_pack(code="tiny", name="Tiny", by=None,
                               terms=replace(billing.STANDARD_TERMS, sku_limit=2))


def test_the_packs_sku_limit_bounds_every_job(tenant_a, owner_a, tiny_pack, settings, api_a):
    settings.SKU_LIMIT_PER_STORE = 5000  # a global setting does not count: the pack's does
    store = make_store(tenant_a, owner_a)
    billing.subscribe_store(store, tiny_pack, by=None)
    products = [make_product(store) for _ in range(3)]

    whole = assert_error_shape(post(api_a, "/api/v1/jobs/", {"store": store.pk, "all": True,
                                                             **BASE}), 400, "too_many_skus")
    assert "at most 2 SKUs" in whole["message"] and "Tiny v1" in whole["message"]
    listed = post(api_a, "/api/v1/jobs/", {"store": store.pk,
                                           "product_ids": [p.pk for p in products], **BASE})
    assert_error_shape(listed, 400, "too_many_skus")
    estimate = post(api_a, "/api/v1/jobs/estimate/", {"store": store.pk, "all": True,
                                                      **BASE}).json()
    assert estimate["can_start"] is False and "at most 2 SKUs" in estimate["unusable_reason"]
    assert not GenerationJob.unscoped.exists()

    two = post(api_a, "/api/v1/jobs/", {"store": store.pk,
                                        "product_ids": [p.pk for p in products[:2]], **BASE})
    assert two.status_code == 201 and two.json()["items_total"] == 2
