"""AliExpress open platform (IOP): form POSTs to the site's /sync gateway, `method` names the API;
the token is created on the REST path /auth/token/create. Signed with
marketplaces.signing.aliexpress_sign (HMAC-SHA256, `sign_method=sha256`, milliseconds)."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from marketplaces.connectors.base import (
    Connector,
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
    ShapeError,
    Transport,
    need,
    optional,
    parameter_value,
    reading_answer,
    strings,
    token_fields,
    unavailable,
)
from marketplaces.signing import aliexpress_sign
from marketplaces.sites import SITES

TOKEN_PATH = "/auth/token/create"
TOKEN_INFO = "aliexpress.solution.token.info.get"
PRODUCT_LIST = "aliexpress.solution.product.list.get"
PRODUCT_INFO = "aliexpress.solution.product.info.get"
PRODUCT_EDIT = "aliexpress.solution.product.edit"
PRODUCT_PERFORMANCE = "aliexpress.solution.product.performance.get"

_ERRORS: dict[str, tuple[str, bool]] = {
    "IncompleteSignature": (SIGNATURE, False),
    "InvalidTimestamp": (SIGNATURE, False),
    "InvalidAppKey": (SIGNATURE, False),
    "IllegalAccessToken": ("ERR_TOKEN_EXPIRED", False),  # invalid or expired
    "AccessTokenExpired": ("ERR_TOKEN_EXPIRED", False),
    "InsufficientPermission": ("ERR_TEMU_403", False),  # the same remedy: re-authorize
    "ApiCallLimit": (RATE_LIMITED, True),
    "AppWhiteIpLimit": ("ERR_IP_NOT_WHITELISTED", False),
    "InvalidCode": ("ERR_AUTH_CODE_INVALID", False),
    "ProductNotFound": ("ERR_MARKETPLACE_GOODS_NOT_FOUND", False),
    # The edit broke AliExpress's own content rules; the answer lists each finding.
    "ProductContentIllegal": ("ERR_MARKETPLACE_CONTENT_REJECTED", False),
}
# AliExpress's field names and ours.
_FIELDS = {"subject": "title", "detail": "description", "bullet_points": "bullet_points",
           "keywords": "search_terms"}


class AliExpressConnector(Connector):
    page_size_max = 100
    performance_api = PRODUCT_PERFORMANCE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._transport = Transport("aliexpress", self.store_key, self.time_zone)

    # -- the interface ---------------------------------------------------------------------

    def create_token(self, authorization_code: str) -> TokenGrant:
        answer, request_id = self._call(TOKEN_PATH, {"code": authorization_code})
        with reading_answer("aliexpress", request_id):
            return TokenGrant(access_token=need(answer, "access_token", str),
                              **_token_fields(answer, shop_name="user_nick"))

    def token_info(self) -> TokenInfo:
        result, request_id = self._call(TOKEN_INFO, {})
        with reading_answer("aliexpress", request_id):
            return TokenInfo(**_token_fields(result, shop_name="shop_name"))

    def list_goods(self, page: int, page_size: int) -> GoodsPage:
        page_size = min(page_size, self.page_size_max)
        query = {"current_page": page, "page_size": page_size}
        result, request_id = self._call(PRODUCT_LIST, {"aeop_a_e_product_list_query": query})
        with reading_answer("aliexpress", request_id):
            items = need(result, "product_list", list)
            return GoodsPage(items=[_goods(item) for item in items], page=page,
                             page_size=page_size, total=need(result, "product_count", int))

    def goods_detail(self, marketplace_id: str, language: str | None = None) -> Goods:
        params = {"product_id": _product_id(marketplace_id)}
        if language:
            params["language"] = language
        result, request_id = self._call(PRODUCT_INFO, params)
        with reading_answer("aliexpress", request_id):
            return _goods(result)

    def update_content(self, marketplace_id: str, update: ContentUpdate) -> str:
        content = update.fields(title="subject", bullet_points="bullet_points",
                                description="detail", search_terms="keywords")
        # The AI-generated flag is always sent: marketplace policy.
        request = {"product_id": _product_id(marketplace_id), "language": update.language,
                   **content, "ai_generated": update.ai_assisted}
        result, request_id = self._call(PRODUCT_EDIT, {"edit_product_request": request})
        with reading_answer("aliexpress", request_id):
            if optional(result, "success", bool, True) is not True:
                raise ShapeError("the edit was answered without success")
        return request_id

    def daily_performance(self, marketplace_ids: list[str], start: date, end: date
                          ) -> list[DailyPerformance]:
        query = {"product_ids": [int(_product_id(goods)) for goods in marketplace_ids],
                 "start_date": start.isoformat(), "end_date": end.isoformat()}
        result, request_id = self._call(PRODUCT_PERFORMANCE, {"performance_query": query})
        with reading_answer("aliexpress", request_id):
            return [DailyPerformance(
                marketplace_id=str(need(row, "product_id", (int, str))),
                day=date.fromisoformat(need(row, "stat_date", str)),
                impressions=need(row, "exposure", int), clicks=need(row, "clicks", int),
                add_to_cart=need(row, "add_cart", int), orders=need(row, "orders", int),
                gmv=Decimal(need(row, "gmv", str)),
                currency=optional(row, "currency_code", str, ""))
                for row in need(result, "performance_list", list)]

    # -- the protocol ----------------------------------------------------------------------

    def _call(self, api: str, params: dict[str, Any]) -> tuple[Any, str]:
        return self._transport.call(lambda: self._once(api, params))

    def _once(self, api: str, params: dict[str, Any]) -> tuple[Any, str]:
        app_key, app_secret = self._transport.app_credentials()
        # IOP signs strings: business objects travel as JSON text.
        form = {"app_key": app_key, "timestamp": str(int(time.time() * 1000)),
                "sign_method": "sha256",
                **{key: value if isinstance(value, str) else json.dumps(value)
                   for key, value in params.items()}}
        if api.startswith("/"):  # a REST path: only token creation
            url, api_path = self._rest_url(api), api
        else:
            url, api_path = self.site.gateway_url, ""
            form.update(method=api, access_token=self.access_token)
        form["sign"] = aliexpress_sign(api_path, form, app_secret)
        answer = self._transport.post(url, data=form)
        return self._result(api, answer)

    def _rest_url(self, api_path: str) -> str:
        # https://api-sg.aliexpress.com/sync -> https://api-sg.aliexpress.com/rest/auth/...
        return self.site.gateway_url.rstrip("/").removesuffix("/sync") + "/rest" + api_path

    def _result(self, api: str, answer: dict[str, Any]) -> tuple[Any, str]:
        request_id = answer.get("request_id") if isinstance(answer.get("request_id"), str) else ""
        code = str(answer.get("code", "0"))
        if code != "0":
            ours, retryable = _ERRORS.get(code, (UNAVAILABLE, False))
            if api == TOKEN_PATH and ours == UNAVAILABLE:
                ours = "ERR_AUTH_CODE_INVALID"
            error = self._transport.gateway_error(ours, code, str(answer.get("message") or ""),
                                                  request_id, retryable=retryable)
            if ours == "ERR_MARKETPLACE_CONTENT_REJECTED":
                with reading_answer("aliexpress", request_id):
                    error.findings = tuple(_finding(entry) for entry in
                                           need(answer, "violations", list))
            raise error
        if api.startswith("/"):
            return answer, request_id
        response = answer.get(f"{api.replace('.', '_')}_response")
        if not isinstance(response, dict) or response.get("result") is None:
            raise self._transport.log_failure(unavailable(
                f"aliexpress {api} answered without a result", request_id=request_id))
        return response["result"], request_id


def _goods(item: Any) -> Goods:
    return Goods(
        marketplace_id=str(need(item, "product_id", (int, str))),
        sku=need(item, "sku_code", str),
        title=need(item, "subject", str),
        category=optional(item, "category_name", str, ""),
        description=optional(item, "detail", str, ""),
        attributes={need(entry, "attr_name", str): str(need(entry, "attr_value", (str, int)))
                    for entry in optional(item, "attributes", list, [])},
        parameters={need(entry, "param_name", str): parameter_value(entry.get("param_value"))
                    for entry in optional(item, "parameters", list, [])},
        images=[GoodsImage(url=need(image, "url", str), width=need(image, "width", int),
                           height=need(image, "height", int),
                           has_watermark=optional(image, "watermark", bool, False),
                           has_text=optional(image, "has_text", bool, False))
                for image in optional(item, "images", list, [])],
        bullet_points=strings(optional(item, "bullet_points", list, []), "bullet_points"),
        search_terms=strings(optional(item, "keywords", list, []), "keywords"),
        price=Decimal(need(item, "price", str)) if item.get("price") is not None else None,
        currency=optional(item, "currency_code", str, ""),
    )


def _finding(entry: Any) -> ContentFinding:
    ours = _FIELDS.get(need(entry, "field", str))
    if ours is None:
        raise ShapeError(f"a violation in an unknown field {entry.get('field')!r}")
    index = optional(entry, "index", int, None)
    return ContentFinding(field=ours if index is None else f"{ours}.{index}",
                          term=need(entry, "word", str),
                          reason_code=optional(entry, "reason_code", str, ""),
                          reason=optional(entry, "reason", str, ""))


def _token_fields(answer: Any, *, shop_name: str) -> dict[str, Any]:
    country = need(answer, "country", str)  # the shop's site, e.g. "ES": never guessed
    site_code = f"aliexpress-{country.lower()}"
    return {**token_fields(answer, shop_id="seller_id", shop_name=shop_name, scopes="scopes",
                           expires_at="expire_time", to_datetime=_from_millis),
            "site_code": site_code if site_code in SITES else "", "region": country}


def _from_millis(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _product_id(marketplace_id: str) -> str:
    if not str(marketplace_id).isdigit():
        raise MarketplaceError("ERR_MARKETPLACE_GOODS_NOT_FOUND",
                               f"{marketplace_id!r} is not an AliExpress product id")
    return str(marketplace_id)
