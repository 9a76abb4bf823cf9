"""The images page: the source, every marketplace size and every generated scene side by side,
approve or reject per image, files served only to members."""

from __future__ import annotations

import io

from django.test import Client
from django.urls import reverse
from PIL import Image

from images.models import GeneratedImage, ImageVariant, SourceImage
from tenants.roles import TenantRole
from tests.conftest import add_member, client_for
from tests.images.test_generation import image_node, scene
from tests.images.test_generation import product as product  # noqa: F401 (fixture)


def test_the_page_shows_source_sizes_and_scenes_and_reviews_per_image(
        product, model_sandbox, tenant_a, owner_a):  # noqa: F811
    image_node(model_sandbox, "SD primary", "sdxl")
    made = scene(product)
    client = client_for(owner_a, tenant_a)
    page = client.get(reverse("images_product", args=[product.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    main = SourceImage.unscoped.get(product=product, position=0)
    assert reverse("images_file", args=["source", main.pk]) in html
    for variant in ImageVariant.unscoped.filter(source=main):
        assert reverse("images_file", args=["variant", variant.pk]) in html
    assert reverse("images_file", args=["generated", made.pk]) in html
    served = client.get(reverse("images_file", args=["variant", ImageVariant.unscoped.filter(
        source=main).first().pk]))
    assert served.status_code == 200
    assert Image.open(io.BytesIO(b"".join(served.streaming_content))).format == "JPEG"

    answer = client.post(reverse("images_review_generated", args=[made.pk, "approve"]))
    assert answer.status_code == 302
    made.refresh_from_db()
    assert made.status == GeneratedImage.Status.APPROVED
    assert client.post(reverse("images_review_generated",
                               args=[made.pk, "publish"])).status_code == 404


def test_a_viewer_cannot_review_and_strangers_see_no_files(
        product, model_sandbox, tenant_a):  # noqa: F811
    image_node(model_sandbox, "SD primary", "sdxl")
    made = scene(product)
    viewer = client_for(add_member(tenant_a, TenantRole.VIEWER), tenant_a)
    assert viewer.post(reverse("images_review_generated",
                               args=[made.pk, "reject"])).status_code == 403
    made.refresh_from_db()
    assert made.status == GeneratedImage.Status.PENDING
    anonymous = Client().get(reverse("images_file", args=["generated", made.pk]))
    assert anonymous.status_code in (302, 403, 404)
