"""Names that arrive as data in English (the shipped pack and instruction sets, marketplace
categories) read in Chinese on Chinese pages ("Standard v1", "Temu: Title v1", "Apparel")."""

from __future__ import annotations

from django.urls import reverse

from generation.instructions import ensure_default_library
from generation.models import GenerationItem, InstructionVersion
from tests.conftest import client_for


def test_shipped_names_and_categories_are_chinese(world_a):
    ensure_default_library()
    version = InstructionVersion.objects.filter(instruction_set__kind="title",
                                                instruction_set__marketplace="temu",
                                                number=1).first()
    GenerationItem.unscoped.filter(pk=world_a.review.item_id).update(instruction_version=version)
    client = client_for(world_a.owner, world_a.tenant)
    catalog = client.get(reverse("catalog")).content.decode()
    assert "<td>家居</td>" in catalog and "<td>Home</td>" not in catalog
    usage = client.get(reverse("usage")).content.decode()
    assert "标准版 v1" in usage and "Standard v1" not in usage
    item = client.get(reverse("review_item", args=[world_a.review.pk])).content.decode()
    assert "Temu：标题 v1" in item and "Temu: Title" not in item
