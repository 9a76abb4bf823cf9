"""The Chinese catalogue uses the glossary's words: docs/glossary.md's "Variants not to use"
table is read, and every zh_Hans translation is checked against it (and Django's compiled
translation of django-allauth's messages, which our catalogue overrides)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.utils import translation

from tests.portal.test_page_reprs import CJK_ASCII_PUNCTUATION

GLOSSARY = Path(settings.BASE_DIR) / "docs" / "glossary.md"
ZH_PO = Path(settings.BASE_DIR) / "platform" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def variant_rules() -> list[tuple[str, re.Pattern, re.Pattern]]:
    """(label, what must not appear in the Chinese, when the English matches)."""
    section = GLOSSARY.read_text().split("## Variants not to use", 1)[1]
    rules = []
    for line in section.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if len(cells) != 3 or cells[0] in ("variant", "---"):
            continue
        variant, _instead, english = cells
        english = english.strip("`").replace("\\|", "|")
        when = re.compile(".*" if english == "*" else english)
        if variant.startswith("ASCII"):
            rules.append(("ASCII punctuation after Chinese", CJK_ASCII_PUNCTUATION, when))
        else:
            literal = re.match(r"`([^`]+)`", variant).group(1)
            rules.append((literal, re.compile(re.escape(literal)), when))
    return rules


def forbidden_in(msgid: str, context: str | None, msgstr: str) -> list[str]:
    english = f"{context} {msgid}" if context else msgid
    return [label for label, variant, when in variant_rules()
            if when.search(english) and variant.search(msgstr)]


def test_the_glossary_table_is_read():
    labels = [label for label, _v, _w in variant_rules()]
    for expected in ("上一页", "通过", "商品目录", "帐户", "错误代码",
                     "ASCII punctuation after Chinese"):
        assert expected in labels


def test_the_rules_catch_the_variants_seen_in_the_product():
    assert forbidden_in("Next item", None, "下一页")
    assert not forbidden_in("Next", None, "下一页")  # the pagination's next page
    assert forbidden_in("Approve selected", None, "批量通过所选")
    assert not forbidden_in("The node failed the test.", None, "节点未通过测试。")
    assert forbidden_in("Incorrect code.", None, "错误代码。")
    assert not forbidden_in("Error code", None, "错误代码")
    assert forbidden_in("Items", "section heading", "条目数")
    assert forbidden_in("Operator:", None, "运营:")
    assert forbidden_in("Saved.", None, "已保存.")
    assert not forbidden_in("Temu: Title v1", None, "Temu: 标题 v1")
    assert forbidden_in("your account", None, "您的帐户")


def test_no_translation_in_the_catalogue_uses_a_forbidden_variant():
    with ZH_PO.open("rb") as handle:
        catalogue = read_po(handle)
    found = []
    for message in catalogue:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgstr in strings:
            hits = forbidden_in(ids[0], message.context, msgstr)
            if hits:
                found.append(f"line {message.lineno}: {ids[0]!r} -> {msgstr!r}: {hits}")
    assert not found, "variants the glossary forbids:\n  " + "\n  ".join(found)


@pytest.mark.parametrize("msgid,expected", [
    ("Incorrect code.", "验证码错误。"),
    ("Your account is protected by two-factor authentication. Please enter an authenticator "
     "code:", "您的账号已启用双因素身份认证。请输入身份验证器中的验证码："),
])
def test_allauth_messages_read_in_our_words(msgid, expected):
    with translation.override("zh-hans"):
        assert translation.gettext(msgid) == expected
