"""What publishing asks the marketplaces before and after a write, against the real sandbox:
the listing's current content per language (goods detail, served from what was written), Temu's
own illegal-vocabulary check, and AliExpress's content rules applied by the edit."""

from __future__ import annotations

import pytest

from marketplaces.connectors import ContentCheck, ContentFinding, ContentUpdate, MarketplaceError
from tests.marketplaces.test_connectors import (
    CASES,
    Case,
    connected,
    expect_error,
    goods_id,
)


@pytest.fixture(params=CASES, ids=[case.marketplace for case in CASES])
def case(request) -> Case:
    return request.param


def test_goods_detail_shows_what_was_written_in_each_language(case, sandbox):
    connector = connected(case, sandbox)
    target = goods_id(case.shop_id, 12)
    original = connector.goods_detail(target)

    connector.update_content(target, ContentUpdate(language="fr", title="Housse de coussin",
                                                   bullet_points=["Lin lavé", "Fermeture"]))

    french = connector.goods_detail(target, "fr")
    assert (french.title, french.bullet_points) == ("Housse de coussin",
                                                    ["Lin lavé", "Fermeture"])
    assert french.description == original.description  # not written: the listing's own
    assert connector.goods_detail(target, "en").title == original.title
    assert connector.goods_detail(target).title == original.title
    expect_error("ERR_MARKETPLACE_UNAVAILABLE", lambda: connector.goods_detail(target, "xx"))


def test_temus_vocabulary_check_names_each_word_where_it_stands(sandbox):
    connector = connected(CASES[0], sandbox)
    target = goods_id(CASES[0].shop_id, 3)
    check = connector.check_content(target, ContentUpdate(
        language="en", title="Medical Grade Steel Tweezers",
        bullet_points=["Precise tips", "The best grip, guaranteed"]))

    assert isinstance(check, ContentCheck) and check.offered and not check.passed
    assert check.request_id.startswith("temu-")
    assert check.findings == (
        ContentFinding("title", "medical grade", "MEDICAL_CLAIM",
                       "Medical or health claims are not allowed"),
        ContentFinding("bullet_points.1", "best", "EXAGGERATED_CLAIM",
                       "Exaggerated or superlative claims are not allowed"),
        ContentFinding("bullet_points.1", "guaranteed", "ABSOLUTE_PROMISE",
                       "Absolute promises are not allowed"),
    )
    assert sandbox.state.updates == [], "a check changes nothing"
    clean = connector.check_content(target, ContentUpdate(language="en",
                                                          description="Steel tweezers."))
    assert clean.offered and clean.passed
    # Words inside other words are not flagged ("bestow", "asbestos").
    assert connector.check_content(target, ContentUpdate(
        language="en", title="Asbestos-free gloves bestow comfort")).passed


def test_temus_check_covers_no_search_terms_so_none_is_asked(sandbox):
    connector = connected(CASES[0], sandbox)
    before = len(sandbox.state.requests)
    check = connector.check_content(goods_id(CASES[0].shop_id, 3), ContentUpdate(
        language="en", search_terms=["best tweezers"]))
    assert check == ContentCheck(offered=False)
    assert len(sandbox.state.requests) == before


def test_temus_check_needs_its_permission(sandbox):
    sandbox.state.set_scopes(CASES[0].shop_id, ["bg.local.goods.partial.update"])
    connector = connected(CASES[0], sandbox)
    expect_error("ERR_TEMU_403", lambda: connector.check_content(
        goods_id(CASES[0].shop_id, 3), ContentUpdate(language="en", title="Tweezers")))


def test_aliexpress_has_no_check_call_and_refuses_on_the_edit_with_its_findings(sandbox):
    connector = connected(CASES[1], sandbox)
    target = goods_id(CASES[1].shop_id, 5)
    update = ContentUpdate(language="fr", title="Montre replica",
                           bullet_points=["Acier", "Original brand box"])
    assert connector.check_content(target, update) == ContentCheck(offered=False)

    error = expect_error("ERR_MARKETPLACE_CONTENT_REJECTED",
                         lambda: connector.update_content(target, update))
    assert isinstance(error, MarketplaceError) and error.request_id
    assert [(f.field, f.term, f.reason_code) for f in error.findings] == [
        ("title", "replica", "COUNTERFEIT"), ("bullet_points.1", "original brand", "COUNTERFEIT")]
    assert sandbox.state.updates == []
