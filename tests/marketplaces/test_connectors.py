"""Both connectors against the real sandbox over real HTTP: every operation, and every way the
gateway can fail, each ending in our error code, never in an unhandled exception."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from marketplaces import limits
from marketplaces.connectors import (
    ContentUpdate,
    GoodsPage,
    MarketplaceError,
    TokenGrant,
    connector_for,
)
from marketplaces.connectors.aliexpress import AliExpressConnector
from marketplaces.connectors.temu import TemuConnector
from marketplaces.sites import get_site
from sandbox import pool
from sandbox import state as st
from sandbox.shops import ALIEXPRESS_SHOP_300, SHOPS, TEMU_SHOP_300, TEMU_SHOP_READ_ONLY


@dataclass(frozen=True)
class Case:
    marketplace: str
    site_code: str
    shop_id: str
    connector_class: type


CASES = [Case("temu", "temu-us", TEMU_SHOP_300, TemuConnector),
         Case("aliexpress", "aliexpress-fr", ALIEXPRESS_SHOP_300, AliExpressConnector)]


@pytest.fixture(params=CASES, ids=[case.marketplace for case in CASES])
def case(request) -> Case:
    return request.param


@pytest.fixture
def fast_retries(settings):
    settings.MARKETPLACE_RETRY_BACKOFF_SECONDS = 0.01


def connected(case: Case, sandbox, **kwargs):
    token = sandbox.state.issue_token(case.shop_id).token
    return connector_for(get_site(case.site_code), token, store_key=f"store-{case.shop_id}",
                         time_zone="Asia/Shanghai", **kwargs)


def goods_id(shop_id: str, index: int) -> str:
    return str(pool.goods_id_for(shop_id, index))


def expect_error(code: str, call, *, retryable: bool | None = None) -> MarketplaceError:
    with pytest.raises(MarketplaceError) as caught:
        call()
    assert caught.value.code == code, caught.value
    if retryable is not None:
        assert caught.value.retryable is retryable
    return caught.value


# -- operations ----------------------------------------------------------------------------

def test_connector_for_picks_the_marketplace(case, sandbox):
    connector = connector_for(get_site(case.site_code), "t", store_key="7",
                              time_zone="Europe/Paris")
    assert isinstance(connector, case.connector_class)
    assert (connector.store_key, connector.time_zone) == ("7", "Europe/Paris")


def test_authorization_code_is_exchanged_for_a_token(case, sandbox):
    code = sandbox.state.issue_code(case.shop_id)

    grant = connector_for(get_site(case.site_code)).create_token(code)

    assert isinstance(grant, TokenGrant)
    assert grant.shop_id == case.shop_id
    assert grant.shop_name == SHOPS[case.shop_id].name
    assert grant.access_token in sandbox.state.tokens
    assert grant.expires_at > datetime.now(UTC) + timedelta(days=80)
    assert list(grant.scopes) == list(SHOPS[case.shop_id].default_scopes)
    info = connector_for(get_site(case.site_code), grant.access_token).token_info()
    assert (info.shop_id, info.scopes) == (case.shop_id, grant.scopes)
    assert abs(info.expires_at - grant.expires_at) < timedelta(seconds=1)


@pytest.mark.parametrize("how", ["reused", "expired", "unknown"])
def test_bad_authorization_codes_are_refused_clearly(case, sandbox, how):
    connector = connector_for(get_site(case.site_code))
    if how == "reused":
        code = sandbox.state.issue_code(case.shop_id)
        connector.create_token(code)
    elif how == "expired":
        code = sandbox.state.issue_code(case.shop_id, valid_for=timedelta(seconds=-1))
    else:
        code = "0" * 32

    error = expect_error("ERR_AUTH_CODE_INVALID", lambda: connector.create_token(code),
                         retryable=False)
    assert error.marketplace_code


def test_goods_are_listed_page_by_page(case, sandbox):
    connector = connected(case, sandbox)
    pages = [connector.list_goods(page, 100) for page in (1, 2, 3, 4)]

    assert all(isinstance(page, GoodsPage) and page.total == 300 for page in pages)
    assert [len(page.items) for page in pages] == [100, 100, 100, 0]
    assert [page.has_more for page in pages[:3]] == [True, True, False]
    ids = [goods.marketplace_id for page in pages for goods in page.items]
    assert len(set(ids)) == 300
    first = pages[0].items[0]
    expected = pool.product(case.shop_id, SHOPS[case.shop_id].seed, 0)
    assert first.marketplace_id == str(expected.goods_id)
    assert (first.sku, first.title, first.category) == (expected.sku, expected.title,
                                                         expected.category)
    assert first.parameters == expected.parameters
    assert first.attributes == expected.attributes
    assert [(image.width, image.has_watermark) for image in first.images] == \
        [(image.width, image.has_watermark) for image in expected.images]
    assert first.images[0].url.startswith(sandbox.url)
    assert first.price == Decimal(expected.price)
    assert first.currency == SHOPS[case.shop_id].currency


def test_page_size_is_capped_at_the_gateway_maximum(case, sandbox):
    page = connected(case, sandbox).list_goods(1, 500)
    assert page.page_size == 100 and len(page.items) == 100


def test_goods_detail(case, sandbox):
    goods = connected(case, sandbox).goods_detail(goods_id(case.shop_id, 41))
    assert goods.marketplace_id == goods_id(case.shop_id, 41)
    assert goods.title == pool.product(case.shop_id, SHOPS[case.shop_id].seed, 41).title


def test_unknown_goods_is_its_own_error(case, sandbox):
    connector = connected(case, sandbox)
    expect_error("ERR_MARKETPLACE_GOODS_NOT_FOUND",
                 lambda: connector.goods_detail(goods_id(case.shop_id, 300)))
    expect_error("ERR_MARKETPLACE_GOODS_NOT_FOUND", lambda: connector.goods_detail("abc"))


def test_content_update_sends_the_ai_assisted_flag(case, sandbox):
    connector = connected(case, sandbox)
    target = goods_id(case.shop_id, 7)
    update = ContentUpdate(language="fr", title="Housse de coussin en lin, beige",
                           bullet_points=["Lin lavé", "Fermeture éclair invisible"],
                           description="Une housse douce.", search_terms=["housse", "lin"])

    request_id = connector.update_content(target, update)

    [received] = sandbox.state.updates
    assert received["ai_assisted"] is True
    assert received["request_id"] == request_id
    assert (received["marketplace"], str(received["goods_id"]), received["language"]) == \
        (case.marketplace, target, "fr")
    assert (received["title"], received["bullet_points"], received["description"],
            received["search_terms"]) == (update.title, update.bullet_points,
                                          update.description, update.search_terms)


def test_partial_update_sends_only_the_given_fields_and_shows_up_in_detail(case, sandbox):
    connector = connected(case, sandbox)
    target = goods_id(case.shop_id, 8)

    connector.update_content(target, ContentUpdate(language="en", title="Linen Pillow Cover"))

    [received] = sandbox.state.updates
    assert received["title"] == "Linen Pillow Cover"
    assert received["bullet_points"] is None and received["description"] is None
    assert connector.goods_detail(target).title == "Linen Pillow Cover"


def test_human_written_content_says_so(case, sandbox):
    connected(case, sandbox).update_content(
        goods_id(case.shop_id, 9), ContentUpdate(language="en", title="Typed by a person",
                                                 ai_assisted=False))
    assert sandbox.state.updates[0]["ai_assisted"] is False  # sent, and false


def test_an_empty_update_is_a_programming_error(case, sandbox):
    with pytest.raises(ValueError):
        connected(case, sandbox).update_content(goods_id(case.shop_id, 1),
                                                ContentUpdate(language="en"))
    assert sandbox.state.requests == []


# -- failures injected into the gateway ---------------------------------------------------

UNAVAILABLE_KINDS = [st.HTML, st.MALFORMED_JSON, st.TRUNCATED, st.SERVER_ERROR, st.WRONG_SHAPE,
                     st.CONNECTION_RESET, st.SLOW]


@pytest.mark.parametrize("kind", UNAVAILABLE_KINDS)
@pytest.mark.parametrize("operation", ["list", "detail", "update", "token_info"])
def test_broken_answers_are_unavailable_and_retryable(case, sandbox, settings, kind, operation):
    settings.MARKETPLACE_TIMEOUT_SECONDS = 0.5
    sandbox.state.slow_seconds = 3
    connector = connected(case, sandbox)
    target = goods_id(case.shop_id, 2)
    call = {"list": lambda: connector.list_goods(1, 50),
            "detail": lambda: connector.goods_detail(target),
            "update": lambda: connector.update_content(target, ContentUpdate("en", title="T")),
            "token_info": connector.token_info}[operation]
    sandbox.state.fail_next(kind)

    expect_error("ERR_MARKETPLACE_UNAVAILABLE", call, retryable=True)

    call()  # the next call is answered properly again


@pytest.mark.parametrize("kind", [st.HTML, st.TRUNCATED, st.WRONG_SHAPE, st.SERVER_ERROR])
def test_broken_answer_to_a_code_exchange_is_unavailable(case, sandbox, kind):
    code = sandbox.state.issue_code(case.shop_id)
    sandbox.state.fail_next(kind)
    expect_error("ERR_MARKETPLACE_UNAVAILABLE",
                 lambda: connector_for(get_site(case.site_code)).create_token(code),
                 retryable=True)


@pytest.mark.parametrize(("kind", "code"), [
    (st.TOKEN_EXPIRED, "ERR_TOKEN_EXPIRED"),
    (st.PERMISSION_DENIED, "ERR_TEMU_403"),
    (st.IP_NOT_WHITELISTED, "ERR_IP_NOT_WHITELISTED"),
    (st.BAD_SIGNATURE, "ERR_MARKETPLACE_SIGNATURE"),
])
def test_gateway_refusals_map_to_our_codes(case, sandbox, kind, code):
    connector = connected(case, sandbox)
    sandbox.state.fail_next(kind)

    error = expect_error(code, lambda: connector.list_goods(1, 10), retryable=False)

    assert error.marketplace_code and error.request_id


def test_invalid_signature_is_logged_loudly_as_our_fault(case, sandbox, caplog):
    connector = connected(case, sandbox)
    sandbox.state.fail_next(st.BAD_SIGNATURE)
    with caplog.at_level(logging.WARNING, logger="marketplaces"):
        expect_error("ERR_MARKETPLACE_SIGNATURE", connector.token_info)
    [record] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert "rejected our request" in record.getMessage()


def test_rate_limited_answers_are_retried_with_backoff(case, sandbox, fast_retries):
    connector = connected(case, sandbox)
    sandbox.state.fail_next(st.RATE_LIMIT, count=2)

    page = connector.list_goods(1, 10)

    assert len(page.items) == 10
    # Two refused attempts and the one answered: each a request against the daily budget.
    assert limits.remaining_daily_budget(connector.store_key, "Asia/Shanghai") == 4997


def test_rate_limiting_that_outlasts_the_retries_is_retryable_later(case, sandbox, settings,
                                                                    fast_retries):
    settings.MARKETPLACE_RATE_LIMIT_RETRIES = 2
    connector = connected(case, sandbox)
    sandbox.state.fail_next(st.RATE_LIMIT, count=5)

    expect_error("ERR_MARKETPLACE_RATE_LIMITED", lambda: connector.list_goods(1, 10),
                 retryable=True)
    assert len(sandbox.state.requests) == 0  # none got through
    connector.list_goods(1, 10)  # 3 attempts used 3 of the 5 failures; 2 retried away now


# -- real conditions, not injected ---------------------------------------------------------

def test_expired_token(case, sandbox):
    connector = connected(case, sandbox)
    sandbox.state.expire_tokens(case.shop_id)
    expect_error("ERR_TOKEN_EXPIRED", connector.token_info)


def test_unknown_token(case, sandbox):
    connector = connector_for(get_site(case.site_code), "not-a-token", store_key="x")
    expect_error("ERR_TOKEN_EXPIRED", lambda: connector.list_goods(1, 10))


def test_ip_removed_from_the_whitelist(case, sandbox):
    connector = connected(case, sandbox)
    sandbox.state.set_ip_whitelist(case.shop_id, ["203.0.113.10"])
    expect_error("ERR_IP_NOT_WHITELISTED", lambda: connector.list_goods(1, 10))


def test_token_without_the_update_api(case, sandbox):
    connector = connected(case, sandbox)
    sandbox.state.set_scopes(case.shop_id, [scope for scope in
                                            sandbox.state.tokens[connector.access_token].scopes
                                            if not scope.endswith(("update", "edit"))])
    connector.list_goods(1, 10)
    expect_error("ERR_TEMU_403", lambda: connector.update_content(
        goods_id(case.shop_id, 1), ContentUpdate("en", title="T")))
    assert sandbox.state.updates == []


def test_read_only_demo_shop_cannot_be_updated(sandbox):
    token = sandbox.state.issue_token(TEMU_SHOP_READ_ONLY).token
    connector = connector_for(get_site("temu-au"), token, store_key="ro")
    goods = connector.list_goods(1, 1).items[0]
    expect_error("ERR_TEMU_403", lambda: connector.update_content(
        goods.marketplace_id, ContentUpdate("en", title="T")))


@pytest.mark.parametrize("what", ["app_key", "app_secret"])
def test_wrong_app_credentials_are_our_fault(case, sandbox, settings, what):
    apps = {name: dict(app) for name, app in settings.MARKETPLACE_APPS.items()}
    apps[case.marketplace][what] = "wrong"
    settings.MARKETPLACE_APPS = apps
    expect_error("ERR_MARKETPLACE_SIGNATURE", connected(case, sandbox).token_info)


def test_missing_app_credentials_fail_before_any_request(case, sandbox, settings):
    settings.MARKETPLACE_APPS = {}
    expect_error("ERR_MARKETPLACE_SIGNATURE", connected(case, sandbox).token_info)
    assert sandbox.state.requests == []


def test_nothing_listening_is_unavailable(case, sandbox, settings):
    settings.MARKETPLACE_GATEWAY_OVERRIDES = {case.marketplace: "http://127.0.0.1:9/sync"}
    expect_error("ERR_MARKETPLACE_UNAVAILABLE", connected(case, sandbox).token_info,
                 retryable=True)


# -- the daily budget, through the connector ----------------------------------------------

def test_daily_budget_stops_requests_before_they_are_sent(case, sandbox, settings):
    settings.MARKETPLACE_DAILY_REQUEST_BUDGET = 3
    connector = connected(case, sandbox)
    for page in (1, 2, 3):
        connector.list_goods(page, 10)

    expect_error("ERR_DAILY_REQUEST_BUDGET", lambda: connector.list_goods(4, 10),
                 retryable=False)

    assert len(sandbox.state.requests) == 3
    assert limits.remaining_daily_budget(connector.store_key, "Asia/Shanghai") == 0
    # Token creation has no store: it is not counted against any budget.
    connector_for(get_site(case.site_code)).create_token(sandbox.state.issue_code(case.shop_id))
