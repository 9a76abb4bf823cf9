"""The data-quality flags are pure functions of a Goods: checked here without any I/O."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from catalog import quality
from catalog.models import QualityFlag
from marketplaces.connectors import Goods, GoodsImage

GOOD_IMAGE = GoodsImage("https://img.example/1.jpg", 1600, 1600)


def goods(**fields) -> Goods:
    base = dict(
        marketplace_id="601099000000001", sku="APP-0001", category="Apparel",
        title="Slim Fit Black Cotton T-Shirt for Men Everyday Streetwear",
        attributes={"Color": "Black", "Material": "Cotton", "Style": "Slim Fit"},
        parameters={"Brand": "Nordic Thread", "Fit Type": "Slim", "Neckline": "Crew Neck",
                    "Sleeve Length": "Short", "Care": "Machine wash", "Origin": "CN",
                    "Season": "Summer"},
        images=[GOOD_IMAGE, GoodsImage("https://img.example/2.jpg", 800, 800)],
        price=Decimal("12.90"), currency="USD",
    )
    base.update(fields)
    return Goods(**base)


def test_a_good_product_has_no_flags():
    report = quality.assess(goods())
    assert report.flags == []
    assert report.attribute_word_count == 3
    assert report.parameter_completeness == Decimal("100.00")
    assert report.main_image_width == 1600


@pytest.mark.parametrize(("title", "count"), [
    ("Slim Fit Black Cotton T-Shirt", 3),
    ("slim fit black cotton t-shirt", 3),  # case does not matter
    ("Slim-Fit, Black; Cotton! T-Shirt", 3),  # nor punctuation
    ("Black Cotton T-Shirt", 2),
    ("Black T-Shirt Black Edition", 1),  # a value counts once
    ("T-Shirt Hot Sale", 0),
    ("Blackout Cottonwood Slim T-Shirt", 0),  # whole words only; "Slim" alone is not "Slim Fit"
    ("Slim Fit Black Coton T-Shirt", 2),  # a typo hides the attribute
])
def test_attribute_words_in_title(title, count):
    assert quality.attribute_words_in_title(goods(title=title)) == count


def test_fewer_than_three_attribute_words_is_flagged():
    assert QualityFlag.FEW_ATTRIBUTE_WORDS in quality.quality_flags(
        goods(title="Black Cotton T-Shirt"))
    assert QualityFlag.FEW_ATTRIBUTE_WORDS not in quality.quality_flags(
        goods(title="Slim Fit Black Cotton T-Shirt"))


def test_a_product_without_attributes_has_no_attribute_words():
    assert quality.attribute_words_in_title(goods(attributes={})) == 0
    assert quality.attribute_words_in_title(goods(attributes={"Color": ""})) == 0


@pytest.mark.parametrize(("parameters", "percent", "flagged"), [
    ({"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7"}, "100.00", False),
    ({"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": None}, "85.71", False),
    ({"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": None, "g": None}, "71.43", True),
    ({"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "  "}, "85.71", False),
    ({"a": "1", "b": "2", "c": "3", "d": "4", "e": "", "f": "  ", "g": None}, "57.14", True),
    ({"a": "1", "b": "2", "c": "3", "d": "4", "e": None}, "80.00", True),
    # exactly 85% is enough
    ({**{f"p{i}": "x" for i in range(17)}, "q1": None, "q2": None, "q3": None}, "85.00", False),
    ({}, "0.00", True),
])
def test_parameter_completeness(parameters, percent, flagged):
    product = goods(parameters=parameters)
    assert quality.parameter_completeness(product) == Decimal(percent)
    assert (QualityFlag.INCOMPLETE_PARAMETERS in quality.quality_flags(product)) is flagged


@pytest.mark.parametrize(("width", "flagged"), [(1199, True), (800, True), (1200, False),
                                                (1920, False)])
def test_main_image_under_1200_px_is_low_resolution(width, flagged):
    product = goods(images=[GoodsImage("https://img.example/1.jpg", width, width), GOOD_IMAGE])
    assert quality.main_image_width(product) == width
    assert (QualityFlag.LOW_RESOLUTION_IMAGE in quality.quality_flags(product)) is flagged


def test_only_the_main_image_counts():
    product = goods(images=[GOOD_IMAGE, GoodsImage("https://img.example/2.jpg", 500, 500,
                                                   has_watermark=True)])
    assert quality.quality_flags(product) == []


@pytest.mark.parametrize("marks", [{"has_watermark": True}, {"has_text": True},
                                   {"has_watermark": True, "has_text": True}])
def test_watermark_or_text_on_the_main_image(marks):
    product = goods(images=[GoodsImage("https://img.example/1.jpg", 1600, 1600, **marks)])
    assert quality.quality_flags(product) == [QualityFlag.WATERMARKED_IMAGE]


def test_no_image():
    product = goods(images=[])
    report = quality.assess(product)
    assert report.main_image_width is None
    assert report.flags == [QualityFlag.NO_IMAGE]


def test_every_flag_at_once_in_a_stable_order():
    product = goods(title="T-Shirt", parameters={"a": None},
                    images=[GoodsImage("https://img.example/1.jpg", 640, 640, has_text=True)])
    assert quality.quality_flags(product) == [
        QualityFlag.FEW_ATTRIBUTE_WORDS, QualityFlag.INCOMPLETE_PARAMETERS,
        QualityFlag.LOW_RESOLUTION_IMAGE, QualityFlag.WATERMARKED_IMAGE]


# Content hash --------------------------------------------------------------------------------

def test_content_hash_is_stable_and_ignores_representation():
    product = goods()
    digest = quality.content_hash(product)
    assert len(digest) == 64 and digest == quality.content_hash(goods())
    reordered = goods(attributes={"Style": "Slim Fit", "Material": "Cotton", "Color": "Black"})
    assert quality.content_hash(reordered) == digest
    assert quality.content_hash(goods(price=Decimal("12.9"))) == digest
    # Known value: the hash must not change between releases unless the rules version does.
    assert digest == quality.content_hash(replace(product))


@pytest.mark.parametrize("change", [
    {"title": "Slim Fit Black Cotton T-Shirt"},
    {"sku": "APP-0002"},
    {"category": "Home"},
    {"description": "New description"},
    {"attributes": {"Color": "White", "Material": "Cotton", "Style": "Slim Fit"}},
    {"parameters": {"Brand": None}},
    {"images": [GoodsImage("https://img.example/1.jpg", 1600, 1600, has_watermark=True)]},
    {"bullet_points": ["Soft"]},
    {"search_terms": ["t-shirt"]},
    {"price": Decimal("13.90")},
    {"currency": "EUR"},
])
def test_content_hash_changes_with_any_synced_field(change):
    assert quality.content_hash(goods(**change)) != quality.content_hash(goods())


def test_content_hash_changes_with_the_quality_rules(monkeypatch):
    before = quality.content_hash(goods())
    monkeypatch.setattr(quality, "QUALITY_RULES_VERSION", quality.QUALITY_RULES_VERSION + 1)
    assert quality.content_hash(goods()) != before


def test_content_hash_covers_every_field_of_goods():
    """A field added to Goods must be added to the hash (or the sync misses its changes)."""
    from dataclasses import fields

    for field in fields(Goods):
        value = getattr(goods(), field.name)
        if field.name == "images":
            changed = [GoodsImage("https://img.example/other.jpg", 1600, 1600)]
        elif isinstance(value, dict):
            changed = {**value, "extra": "x"}
        elif isinstance(value, list):
            changed = [*value, "x"]
        elif isinstance(value, Decimal):
            changed = value + 1
        else:
            changed = f"{value}-changed"
        assert quality.content_hash(replace(goods(), **{field.name: changed})) != \
            quality.content_hash(goods()), field.name
