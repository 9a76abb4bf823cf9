"""Temu open platform: one JSON POST per call to the site's router, `type` names the API,
signed with marketplaces.signing.temu_sign over every top-level parameter."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from marketplaces.connectors.base import (
    Connector,
    ContentCheck,
    ContentFinding,
    ContentUpdate,
    DailyPerformance,
    Goods,
    GoodsImage,
    GoodsPage,
    MarketplaceError,
    TokenGrant,
    TokenInfo,
)
from marketplaces.connectors.transport import (
    RATE_LIMITED,
    SIGNATURE,
    UNAVAILABLE,
    Transport,
    need,
    optional,
    parameter_value,
    reading_answer,
    strings,
    token_fields,
    unavailable,
)
from marketplaces.signing import temu_sign

CREATE_TOKEN = "bg.open.accesstoken.create"
TOKEN_INFO = "bg.open.accesstoken.info.get"
GOODS_LIST = "bg.local.goods.list.query"
GOODS_DETAIL = "bg.local.goods.detail.query"
GOODS_UPDATE = "bg.local.goods.partial.update"
# Temu's own banned-word check of a listing's texts (goodsName, goodsDesc, bulletPoints).
VOCABULARY_CHECK = "temu.local.goods.illegal.vocabulary.check"
# The check's field names and ours (search terms are not among the fields it checks).
_CHECKED_FIELDS = {"goodsName": "title", "goodsDesc": "description",
                   "bulletPoints": "bullet_points"}
GOODS_PERFORMANCE = "bg.local.goods.performance.query"

# The router's error codes and ours. Unknown codes: ERR_MARKETPLACE_UNAVAILABLE, not retried.
_ERRORS: dict[int, tuple[str, bool]] = {
    3000001: (SIGNATURE, False),  # invalid signature: our fault
    3000002: (SIGNATURE, False),  # timestamp out of range: our clock
    3000003: (SIGNATURE, False),  # unknown app key: our configuration
    3000032: ("ERR_TEMU_403", False),  # the token does not cover this API
    3000033: ("ERR_TOKEN_EXPIRED", False),  # unknown or revoked token
    3000034: ("ERR_TOKEN_EXPIRED", False),
    4000004: (RATE_LIMITED, True),
    5000003: ("ERR_IP_NOT_WHITELISTED", False),
    7000016: ("ERR_AUTH_CODE_INVALID", False),
    2000010: ("ERR_MARKETPLACE_GOODS_NOT_FOUND", False),
}


# The shop's registration region in the token answers (`regionId`) and our site for it. 211 is
# the United States in Temu's API; check the others against Temu's region list before going
# live (the sandbox uses these same numbers, sandbox.shops.TEMU_REGION_IDS).
TEMU_REGION_IDS: dict[int, str] = {
    211: "temu-us", 37: "temu-ca", 12: "temu-au", 144: "temu-nz", 210: "temu-uk",
    76: "temu-de", 69: "temu-fr", 186: "temu-es", 98: "temu-it", 141: "temu-nl",
    162: "temu-pl",
}


class TemuConnector(Connector):
    page_size_max = 100
    performance_api = GOODS_PERFORMANCE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._transport = Transport("temu", self.store_key, self.time_zone)

    # -- the interface ---------------------------------------------------------------------

    def create_token(self, authorization_code: str) -> TokenGrant:
        # The code is single use: a retry after a lost answer gets "already used", which the
        # seller sees as "generate a new code" rather than a silent double exchange.
        result, request_id = self._call(CREATE_TOKEN, {"code": authorization_code},
                                        with_token=False)
        with reading_answer("temu", request_id):
            return TokenGrant(access_token=need(result, "accessToken", str),
                              **_token_fields(result, expires_at="accessTokenExpireTime"))

    def token_info(self) -> TokenInfo:
        result, request_id = self._call(TOKEN_INFO, {})
        with reading_answer("temu", request_id):
            return TokenInfo(**_token_fields(result, expires_at="expiredTime"))

    def list_goods(self, page: int, page_size: int) -> GoodsPage:
        page_size = min(page_size, self.page_size_max)
        result, request_id = self._call(GOODS_LIST, {"pageNo": page, "pageSize": page_size})
        with reading_answer("temu", request_id):
            items = need(result, "goodsList", list)
            return GoodsPage(items=[self._goods(item) for item in items], page=page,
                             page_size=page_size, total=need(result, "total", int))

    def goods_detail(self, marketplace_id: str, language: str | None = None) -> Goods:
        params: dict[str, Any] = {"goodsId": _goods_id(marketplace_id)}
        if language:
            params["language"] = language
        result, request_id = self._call(GOODS_DETAIL, params)
        with reading_answer("temu", request_id):
            return self._goods(result)

    def check_content(self, marketplace_id: str, update: ContentUpdate) -> ContentCheck:
        """Temu's illegal-vocabulary check of the update's title, description and bullet
        points (an update of search terms only has nothing it checks: no call)."""
        params = {name: value for name, value in (
            ("goodsName", update.title), ("goodsDesc", update.description),
            ("bulletPoints", update.bullet_points)) if value is not None}
        if not params:
            return ContentCheck(offered=False)
        result, request_id = self._call(VOCABULARY_CHECK, {
            "goodsId": _goods_id(marketplace_id), "language": update.language, **params})
        with reading_answer("temu", request_id):
            found = optional(result, "illegalVocabularyList", list, [])
            if need(result, "hasIllegalVocabulary", bool) and not found:
                raise ValueError("illegal vocabulary announced without a list")
            return ContentCheck(offered=True, request_id=request_id,
                                findings=tuple(_finding(entry) for entry in found))

    def update_content(self, marketplace_id: str, update: ContentUpdate) -> str:
        content = update.fields(title="title", bullet_points="bulletPoints",
                                description="description", search_terms="searchTerms")
        # The AI-assisted flag is always sent: marketplace policy, and missing it costs the
        # seller credit points.
        result, request_id = self._call(GOODS_UPDATE, {
            "goodsId": _goods_id(marketplace_id), "language": update.language,
            "content": content, "aiAssisted": update.ai_assisted,
        })
        with reading_answer("temu", request_id):
            optional(result, "goodsId", (int, str), None)  # an object, whatever it holds
        return request_id

    def daily_performance(self, marketplace_ids: list[str], start: date, end: date
                          ) -> list[DailyPerformance]:
        result, request_id = self._call(GOODS_PERFORMANCE, {
            "goodsIdList": [_goods_id(goods) for goods in marketplace_ids],
            "startDate": start.isoformat(), "endDate": end.isoformat()})
        with reading_answer("temu", request_id):
            return [DailyPerformance(
                marketplace_id=str(need(row, "goodsId", (int, str))),
                day=date.fromisoformat(need(row, "statDate", str)),
                impressions=need(row, "impressionCnt", int), clicks=need(row, "clickCnt", int),
                add_to_cart=need(row, "addCartCnt", int), orders=need(row, "orderCnt", int),
                gmv=Decimal(need(need(row, "gmv", dict), "amount", str)),
                currency=optional(need(row, "gmv", dict), "currency", str, ""))
                for row in need(result, "statList", list)]

    # -- the protocol ----------------------------------------------------------------------

    def _call(self, api: str, params: dict[str, Any], *, with_token: bool = True
              ) -> tuple[Any, str]:
        return self._transport.call(lambda: self._once(api, params, with_token))

    def _once(self, api: str, params: dict[str, Any], with_token: bool) -> tuple[Any, str]:
        app_key, app_secret = self._transport.app_credentials()
        body: dict[str, Any] = {"type": api, "app_key": app_key, "data_type": "JSON",
                                "timestamp": int(time.time()), **params}
        if with_token:
            body["access_token"] = self.access_token
        body["sign"] = temu_sign(body, app_secret)
        answer = self._transport.post(self.site.gateway_url, json=body)
        return self._result(api, answer)

    def _result(self, api: str, answer: dict[str, Any]) -> tuple[Any, str]:
        request_id = answer.get("requestId") if isinstance(answer.get("requestId"), str) else ""
        success = answer.get("success")
        if success is True and answer.get("result") is not None:
            return answer["result"], request_id
        if success is not False:
            raise self._transport.log_failure(unavailable(
                f"temu {api} answered without success/result", request_id=request_id))
        raw_code, message = answer.get("errorCode"), str(answer.get("errorMsg") or "")
        gateway_code = int(raw_code) if str(raw_code).isdigit() else -1
        code, retryable = _ERRORS.get(gateway_code, (UNAVAILABLE, False))
        if api == CREATE_TOKEN and code == UNAVAILABLE:
            code = "ERR_AUTH_CODE_INVALID"  # any other refusal of a code: the code is no good
        raise self._transport.gateway_error(code, str(raw_code), message, request_id,
                                            retryable=retryable)

    @staticmethod
    def _goods(item: Any) -> Goods:
        price = optional(item, "price", dict, {})
        return Goods(
            marketplace_id=str(need(item, "goodsId", (int, str))),
            sku=need(item, "outSkuSn", str),
            title=need(item, "goodsName", str),
            category=optional(item, "catName", str, ""),
            description=optional(item, "goodsDesc", str, ""),
            attributes={need(entry, "name", str): str(need(entry, "value", (str, int, float)))
                        for entry in optional(item, "goodsAttributes", list, [])},
            parameters={need(entry, "name", str): parameter_value(entry.get("value"))
                        for entry in optional(item, "goodsParameters", list, [])},
            images=[GoodsImage(url=need(image, "url", str), width=need(image, "width", int),
                               height=need(image, "height", int),
                               has_watermark=optional(image, "watermark", bool, False),
                               has_text=optional(image, "hasText", bool, False))
                    for image in optional(item, "images", list, [])],
            bullet_points=strings(optional(item, "bulletPoints", list, []), "bulletPoints"),
            search_terms=strings(optional(item, "searchTerms", list, []), "searchTerms"),
            price=Decimal(need(price, "amount", str)) if price else None,
            currency=optional(price, "currency", str, "") if price else "",
        )


def _finding(entry: Any) -> ContentFinding:
    where = need(entry, "field", str)
    ours = _CHECKED_FIELDS.get(where)
    if ours is None:
        raise ValueError(f"the check named an unknown field {where!r}")
    index = optional(entry, "index", int, None)
    return ContentFinding(field=f"{ours}.{index}" if ours == "bullet_points" and index is not None
                          else ours,
                          term=need(entry, "vocabulary", str),
                          reason_code=optional(entry, "reasonCode", str, ""),
                          reason=optional(entry, "reason", str, ""))


def _token_fields(answer: Any, *, expires_at: str) -> dict[str, Any]:
    region = need(answer, "regionId", int)  # which site the shop is on: never guessed
    return {**token_fields(answer, shop_id="mallId", shop_name="mallName", scopes="apiScopeList",
                           expires_at=expires_at, to_datetime=_from_seconds),
            "site_code": TEMU_REGION_IDS.get(region, ""), "region": str(region)}


def _from_seconds(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _goods_id(marketplace_id: str) -> int:
    if not str(marketplace_id).isdigit():
        raise MarketplaceError("ERR_MARKETPLACE_GOODS_NOT_FOUND",
                               f"{marketplace_id!r} is not a Temu goods id")
    return int(marketplace_id)
