"""Main-image scenes through model nodes with the capability "image", over real HTTP from the
model sandbox's images API: deterministic pictures, failover with a request log per attempt,
costs, review per image, and the duplicate refused before it costs a call."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from PIL import Image

from catalog.models import Product
from generation.models import ModelNode, ModelRequestLog
from images import generation, services
from images.models import GeneratedImage, ImageNode
from portal.shared_redis import shared_redis
from sandbox import pool, shops
from tenants.scope import tenant_scope
from tests.catalog.conftest import connect_store, sync

SHOP = shops.SHOPS[shops.TEMU_SHOP_READ_ONLY]


@pytest.fixture(autouse=True)
def _fresh_node_state():
    for key in shared_redis().scan_iter("generation-nodes:*"):
        shared_redis().delete(key)


def image_node(model_sandbox, name, model, role=ModelNode.Role.PRIMARY, price="0.14"):
    node = ModelNode.objects.create(
        name=name, base_url=model_sandbox.base_url, model_name=model, api_key="sk-test",
        supports_text=False, role=role, request_deadline_seconds=Decimal("5"))
    ImageNode.objects.create(node=node, price_per_image=Decimal(price), size="512x512")
    return node


@pytest.fixture
def product(sandbox, tenant_a, owner_a) -> Product:
    store = connect_store(sandbox, tenant_a, owner_a, SHOP.shop_id)
    sync(store)
    goods_id = pool.product(SHOP.shop_id, SHOP.seed, 0).goods_id
    product = Product.unscoped.get(store=store, marketplace_id=str(goods_id))
    with tenant_scope(tenant_a):
        services.inspect_product_images(product)
    return product


def scene(product, preset="white-studio") -> GeneratedImage:
    with tenant_scope(product.tenant):
        return generation.generate_scene(product, preset)


def test_a_scene_is_a_real_picture_from_the_images_edits_api(product, model_sandbox):
    image_node(model_sandbox, "SD primary", "sdxl")
    made = scene(product)
    with made.file.open("rb") as handle:
        picture = Image.open(io.BytesIO(handle.read()))
    assert (picture.format, picture.size) == ("PNG", (512, 512)) == ("PNG", (made.width,
                                                                              made.height))
    assert made.status == GeneratedImage.Status.PENDING and made.cost == Decimal("0.14")
    request = model_sandbox.state.requests_for("sdxl")[-1]
    assert request["messages"][0]["images_api"] == "edits"
    assert request["messages"][0]["source_sha256"] == made.source.content_sha256
    log = ModelRequestLog.unscoped.get(node_name="SD primary")
    assert log.error_code == "" and log.cost == Decimal("0.14") and log.store_id == \
        product.store_id


def test_the_same_input_gives_the_same_picture(product, model_sandbox):
    image_node(model_sandbox, "SD primary", "sdxl")
    first, second = scene(product), scene(product)
    assert first.phash == second.phash and first.pk != second.pk
    assert scene(product, "brazil-promotional").phash != first.phash


def test_a_failing_primary_fails_over_to_the_backup_with_both_attempts_logged(
        product, model_sandbox):
    image_node(model_sandbox, "SD primary", "sdxl")
    image_node(model_sandbox, "Cloud backup", "cloud-image", role=ModelNode.Role.BACKUP,
               price="0.30")
    model_sandbox.state.set_behaviour("sdxl", count=1, status=503)
    made = scene(product)
    assert made.node_name == "Cloud backup" and made.cost == Decimal("0.30")
    logs = list(ModelRequestLog.unscoped.order_by("attempt").values_list(
        "node_name", "error_code", "http_status", "cost"))
    assert logs == [("SD primary", "ERR_MODEL_UNAVAILABLE", 503, Decimal("0")),
                    ("Cloud backup", "", 200, Decimal("0.30"))]


def test_no_image_node_is_an_error_with_a_code(product, model_sandbox):
    ModelNode.objects.create(name="Text only", base_url=model_sandbox.base_url,
                             model_name="deepseek-chat", api_key="sk-test")
    with pytest.raises(generation.ImageGenerationError) as raised:
        scene(product)
    assert raised.value.code == "ERR_NO_MODEL_NODE"
    assert model_sandbox.state.requests_for("deepseek-chat") == []


def test_a_duplicate_of_an_approved_scene_is_refused_before_it_costs_a_call(
        product, model_sandbox):
    image_node(model_sandbox, "SD primary", "sdxl")
    with tenant_scope(product.tenant):
        generation.review(scene(product), approve=True)
    calls = len(model_sandbox.state.requests_for("sdxl"))
    with pytest.raises(generation.ImageGenerationError) as raised:
        scene(product)
    assert raised.value.code == "ERR_IMAGE_DUPLICATE" and "72" in raised.value.message
    assert len(model_sandbox.state.requests_for("sdxl")) == calls
    # Another style is another picture: allowed.
    assert scene(product, "spain-fast-fashion").status == GeneratedImage.Status.PENDING


def test_review_rejects_per_image(product, model_sandbox):
    image_node(model_sandbox, "SD primary", "sdxl")
    first, second = scene(product), scene(product, "brazil-promotional")
    with tenant_scope(product.tenant):
        generation.review(first, approve=False)
        generation.review(second, approve=True)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("rejected", "approved")
    assert first.reviewed_at and second.reviewed_at


def test_the_images_api_answers_generations_too(model_sandbox):
    import base64

    import openai

    client = openai.OpenAI(base_url=model_sandbox.base_url, api_key="sk-test", max_retries=0)
    answer = client.images.generate(model="sdxl", prompt="a red mug on white", size="512x512",
                                    response_format="b64_json")
    picture = Image.open(io.BytesIO(base64.b64decode(answer.data[0].b64_json)))
    assert picture.size == (512, 512)
    with pytest.raises(openai.BadRequestError):
        client.images.generate(model="sdxl", prompt="x", size="9x9")
