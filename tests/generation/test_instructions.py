"""The prompt library: shipped defaults, version lifecycle, and the request layout that keeps
the provider's prompt cache hitting."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from catalog.models import Product
from generation import instructions
from generation.content import (
    EXAMPLES,
    KIND_HEADER,
    LANGUAGE_HEADER,
    LENGTH_LIMITS,
    PRODUCT_DATA_HEADER,
    ContentKind,
)
from generation.instructions import (
    build_messages,
    create_draft,
    ensure_default_library,
    publish,
    published_version,
    retire,
)
from generation.models import BannedWord, InstructionSet, InstructionVersion
from marketplaces.sites import Marketplace

Status = InstructionVersion.Status


def make_product(**fields) -> Product:
    values = {
        "title": "Stainless steel insulated water bottle 750 ml",
        "category": "Home & Kitchen > Drinkware",
        "attributes": {"material": "stainless steel", "colour": "blue"},
        "parameters": {"capacity_ml": 750, "weight_g": 320},
        "bullet_points": ["Keeps drinks cold for 24 h"],
        "description": "Double-walled bottle.",
        "price": Decimal("19.90"),
        "currency": "EUR",
    }
    values.update(fields)
    return Product(**values)


def user_text(messages: list[dict]) -> str:
    content = messages[-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


@pytest.fixture
def library(db):
    ensure_default_library()


@pytest.fixture
def version(library) -> InstructionVersion:
    found = published_version(ContentKind.TITLE, Marketplace.TEMU)
    assert found is not None
    return found


# The shipped files ---------------------------------------------------------------------------

def test_every_shipped_file_is_long_and_specific():
    title = instructions.library_text("title")
    assert 1000 <= len(title) <= 2500
    for kind in ContentKind:
        assert len(instructions.library_text(kind.value)) >= 600, kind
    for marketplace in Marketplace:
        assert len(instructions.library_text(f"marketplace_{marketplace.value}")) >= 300
    assert "STRICT COMPLIANCE" in instructions.default_strict_text()
    temu = instructions.library_text("marketplace_temu")
    assert "free shipping" in temu and "best" in temu
    assert "128" in instructions.library_text("marketplace_aliexpress")


# The default library ---------------------------------------------------------------------------

def test_ensure_default_library_creates_a_published_set_per_marketplace_and_kind(db):
    ensure_default_library()

    assert InstructionSet.objects.count() == 14
    assert InstructionVersion.objects.filter(number=1, status=Status.PUBLISHED).count() == 14
    temu_title = published_version(ContentKind.TITLE, Marketplace.TEMU)
    assert temu_title.instruction_set.category == ""
    assert temu_title.text.startswith(instructions.library_text("title"))
    assert temu_title.text.endswith(instructions.library_text("marketplace_temu"))
    assert "STRICT COMPLIANCE" in temu_title.strict_text
    assert temu_title.published_at is not None
    ali = published_version(ContentKind.LIVESTREAM_SCRIPT, Marketplace.ALIEXPRESS)
    assert ali.text.endswith(instructions.library_text("marketplace_aliexpress"))


def test_ensure_default_library_is_idempotent_and_leaves_edited_sets_alone(
        library, platform_admin, django_assert_num_queries):
    title_set = InstructionSet.objects.get(kind="title", marketplace="temu", category="")
    draft = create_draft(title_set, text="Edited by staff.", strict_text="STRICT COMPLIANCE x",
                         change_note="tuned", by=platform_admin)
    publish(draft, by=platform_admin)
    # A set staff emptied of published versions stays that way too.
    bullets = published_version(ContentKind.BULLET_POINTS, Marketplace.TEMU)
    retire(bullets, by=platform_admin)

    ensure_default_library()
    with django_assert_num_queries(2):  # every job start calls it: the sets, the words
        ensure_default_library()

    assert InstructionSet.objects.count() == 14
    assert InstructionVersion.objects.count() == 15
    assert published_version(ContentKind.TITLE, Marketplace.TEMU).text == "Edited by staff."
    assert published_version(ContentKind.BULLET_POINTS, Marketplace.TEMU) is None


def test_default_banned_words_load_once_and_deletions_stay(db):
    ensure_default_library()
    loaded = BannedWord.objects.count()
    assert loaded > 0
    BannedWord.objects.filter(term="best").delete()

    ensure_default_library()

    assert not BannedWord.objects.filter(term="best").exists()
    assert BannedWord.objects.count() < loaded


def test_the_shipped_banned_words_are_loaded(db):
    from generation.banned_word_defaults import DEFAULT_BANNED_TERMS

    ensure_default_library()

    expected = {(marketplace, language, term)
                for marketplace, languages in DEFAULT_BANNED_TERMS.items()
                for language, terms in languages.items() for term in terms}
    assert set(BannedWord.objects.values_list("marketplace", "language", "term")) == expected
    assert BannedWord.objects.filter(marketplace="temu", language="en", term="best").exists()


def test_published_version_prefers_the_category_set(library, platform_admin):
    marketplace_wide = published_version(ContentKind.TITLE, Marketplace.TEMU)
    shoes = InstructionSet.objects.create(kind="title", marketplace="temu", category="Shoes",
                                          name="Temu: Title (shoes)")

    # A category set without a published version: the marketplace-wide one is used.
    draft = create_draft(shoes, text="Shoe titles.", strict_text="", change_note="",
                         by=platform_admin)
    assert published_version("title", "temu", "Shoes") == marketplace_wide

    publish(draft, by=platform_admin)
    assert published_version("title", "temu", "Shoes") == draft
    assert published_version("title", "temu", "Bags") == marketplace_wide
    assert published_version("title", "temu") == marketplace_wide
    assert published_version("title", "aliexpress", "Shoes").instruction_set.marketplace == (
        "aliexpress")


def test_published_version_is_none_without_a_library(db):
    assert published_version("title", "temu", "Shoes") is None


# Staff operations ----------------------------------------------------------------------------

def test_create_draft_numbers_after_the_highest_version(version, platform_admin):
    instruction_set = version.instruction_set
    second = create_draft(instruction_set, text="v2", strict_text="s2", change_note="shorter",
                          by=platform_admin)
    third = create_draft(instruction_set, text="v3", strict_text="s3", change_note="",
                         by=platform_admin)

    assert (second.number, third.number) == (2, 3)
    assert second.status == Status.DRAFT
    assert second.created_by == platform_admin
    assert second.change_note == "shorter"
    # Drafts do not change what is used.
    assert published_version("title", "temu") == version


def test_publish_retires_the_previously_published_version(version, platform_admin):
    draft = create_draft(version.instruction_set, text="v2", strict_text="s2", change_note="",
                         by=platform_admin)

    publish(draft, by=platform_admin)

    version.refresh_from_db()
    draft.refresh_from_db()
    assert version.status == Status.RETIRED
    assert draft.status == Status.PUBLISHED
    assert draft.published_by == platform_admin
    assert draft.published_at is not None
    assert published_version("title", "temu") == draft
    assert version.instruction_set.versions.filter(status=Status.PUBLISHED).count() == 1

    # Bringing back the old version retires the new one again.
    publish(version, by=platform_admin)
    draft.refresh_from_db()
    assert draft.status == Status.RETIRED
    assert published_version("title", "temu") == version


def test_publishing_twice_is_harmless_and_the_database_allows_one_published(version,
                                                                             platform_admin):
    assert publish(version, by=platform_admin).status == Status.PUBLISHED
    draft = create_draft(version.instruction_set, text="v2", strict_text="", change_note="",
                         by=platform_admin)
    with pytest.raises(IntegrityError), transaction.atomic():
        InstructionVersion.objects.filter(pk=draft.pk).update(status=Status.PUBLISHED)


def test_retire_takes_a_version_out_of_use(version, platform_admin):
    retire(version, by=platform_admin)

    assert version.status == Status.RETIRED
    assert published_version("title", "temu") is None


# The messages of one request -----------------------------------------------------------------

def product_json(text: str) -> dict:
    return json.loads(text.split(PRODUCT_DATA_HEADER + "\n", 1)[1].splitlines()[0])


def test_messages_put_the_instructions_first_then_the_product_then_the_language(version):
    messages = build_messages(version, kind="title", language="fr", marketplace="temu",
                              product=make_product(), banned_terms=["best", "#1"])

    assert [message["role"] for message in messages] == ["system", "user"]
    system = messages[0]["content"]
    assert system.startswith(version.text)
    assert "title: at most 250" in system
    assert system.index("- #1") < system.index("- best")
    again = build_messages(version, kind="title", language="fr", marketplace="temu",
                           product=make_product(), banned_terms=[" best", "Best", "#1", ""])
    assert again[0]["content"] == system
    assert json.dumps(EXAMPLES["title"], sort_keys=True) in system

    text = user_text(messages)
    lines = text.splitlines()
    assert lines[0] == f"{KIND_HEADER} title"
    assert lines[2] == PRODUCT_DATA_HEADER
    assert lines[-1] == f"{LANGUAGE_HEADER} fr (Français)"
    data = json.loads(lines[3])
    assert data == {
        "title": "Stainless steel insulated water bottle 750 ml",
        "category": "Home & Kitchen > Drinkware",
        "attributes": {"colour": "blue", "material": "stainless steel"},
        "parameters": {"capacity_ml": 750, "weight_g": 320},
        "bullet_points": ["Keeps drinks cold for 24 h"],
        "description": "Double-walled bottle.",
        "price": "19.90", "currency": "EUR",
    }
    assert lines[3] == json.dumps(data, ensure_ascii=False, sort_keys=True,
                                  separators=(",", ":"))
    assert "STRICT COMPLIANCE" not in text


def test_the_languages_of_one_sku_share_all_but_the_language_line(version):
    """The model's prefix cache then serves a SKU's second and third languages: the banned
    terms of every language of the job are in the shared system message."""
    banned = {"en": ["best", "#1"], "fr": ["meilleur"], "de": ["bester"]}
    product = make_product()

    def messages_for(language: str) -> list[dict]:
        return build_messages(version, kind="title", language=language, marketplace="temu",
                              product=product, banned_terms=banned[language],
                              other_languages_banned={code: terms for code, terms
                                                      in banned.items() if code != language})

    english, french, german = (messages_for(code) for code in ("en", "fr", "de"))
    assert english[:-1] == french[:-1] == german[:-1]
    assert "- meilleur" in english[0]["content"] and "- bester" in english[0]["content"]
    head = user_text(english).rsplit(LANGUAGE_HEADER, 1)[0]
    assert user_text(french).startswith(head) and user_text(german).startswith(head)
    assert user_text(french).endswith(f"{LANGUAGE_HEADER} fr (Français)")


def test_two_products_share_the_whole_prefix_so_the_cache_can_hit(version):
    common = {"kind": "title", "language": "de", "marketplace": "temu",
              "banned_terms": ["best", "free shipping", "#1"], "brand_voice": "Calm, precise."}
    first = build_messages(version, product=make_product(title="Bottle A"), **common)
    second = build_messages(version, product=make_product(title="Mug B", price=None),
                            banned_terms=["#1", "best", "free shipping", "best"],
                            **{k: v for k, v in common.items() if k != "banned_terms"})

    assert first[:-1] == second[:-1]
    head = user_text(first).split(PRODUCT_DATA_HEADER)[0]
    assert user_text(second).startswith(head)
    assert user_text(first) != user_text(second)
    # Identical inputs give identical messages.
    assert build_messages(version, product=make_product(title="Bottle A"), **common) == first


def test_aliexpress_limits_are_used_for_aliexpress(library):
    version = published_version("title", "aliexpress")
    messages = build_messages(version, kind="title", language="ru", marketplace="aliexpress",
                              product=make_product())

    assert "title: at most 128" in messages[0]["content"]
    assert LENGTH_LIMITS["aliexpress"]["title"]["title"] == 128
    assert user_text(messages).splitlines()[-1] == f"{LANGUAGE_HEADER} ru (Русский)"


def test_brand_voice_is_the_second_system_message(version):
    messages = build_messages(version, kind="title", language="en", marketplace="temu",
                              product=make_product(), brand_voice="  Warm and playful.  ")

    assert [message["role"] for message in messages] == ["system", "system", "user"]
    assert messages[1]["content"].endswith("Warm and playful.")
    assert "Warm and playful" not in messages[0]["content"]
    blank = build_messages(version, kind="title", language="en", marketplace="temu",
                           product=make_product(), brand_voice="   ")
    assert len(blank) == 2


def test_strict_text_and_findings_only_when_stricter(version):
    product = make_product()
    plain = build_messages(version, kind="title", language="en", marketplace="temu",
                           product=product, findings=["best"])
    strict = build_messages(version, kind="title", language="en", marketplace="temu",
                            product=product, stricter=True,
                            findings=["best", "No. 1", "best"])

    assert "STRICT COMPLIANCE" not in user_text(plain)
    text = user_text(strict)
    assert version.strict_text in text
    assert "- No. 1\n- best" in text or "- best\n- No. 1" in text
    assert text.index(PRODUCT_DATA_HEADER) < text.index(LANGUAGE_HEADER) \
        < text.index("STRICT COMPLIANCE")
    assert text.startswith(f"{KIND_HEADER} title\n")
    # The cached prefix is the same as for a first attempt.
    assert strict[:-1] == plain[:-1]


def test_stricter_falls_back_to_the_shipped_strict_text(version, platform_admin):
    draft = create_draft(version.instruction_set, text="v2", strict_text="", change_note="",
                         by=platform_admin)
    messages = build_messages(draft, kind="title", language="en", marketplace="temu",
                              product=make_product(), stricter=True)
    assert "STRICT COMPLIANCE" in user_text(messages)


def test_reviewer_note_comes_after_the_product_and_the_language(version):
    messages = build_messages(version, kind="title", language="it", marketplace="temu",
                              product=make_product(), note="Mention the 750 ml capacity.")
    text = user_text(messages)
    assert "Mention the 750 ml capacity." in text
    assert text.index(PRODUCT_DATA_HEADER) < text.index(LANGUAGE_HEADER) \
        < text.index("Mention the 750 ml")


def test_image_description_sends_the_image(library):
    version = published_version("image_description", "temu")
    messages = build_messages(version, kind="image_description", language="es",
                              marketplace="temu", product=make_product(),
                              image_url="https://img.example.com/main.jpg")

    content = messages[-1]["content"]
    assert isinstance(content, list)
    assert content[0]["type"] == "text"
    assert content[0]["text"].startswith(f"{KIND_HEADER} image_description\n")
    assert content[1] == {"type": "image_url",
                          "image_url": {"url": "https://img.example.com/main.jpg"}}
    # Other kinds never send an image.
    title = build_messages(published_version("title", "temu"), kind="title", language="es",
                           marketplace="temu", product=make_product(),
                           image_url="https://img.example.com/main.jpg")
    assert isinstance(title[-1]["content"], str)


def test_long_descriptions_are_cut(version):
    messages = build_messages(version, kind="title", language="en", marketplace="temu",
                              product=make_product(description="x" * 10_000))
    data = product_json(user_text(messages))
    assert len(data["description"]) <= instructions.DESCRIPTION_LIMIT + 1
