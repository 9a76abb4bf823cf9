"""The sandbox's Temu open-platform router: one POST of JSON per call, `type` names the API.

Checks what the real router checks, in its order: app key, timestamp, signature, rate limit,
access token, IP whitelist, the token's API scopes; then answers the business call.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from marketplaces.signing import temu_sign
from sandbox import pool, traffic, vocabulary
from sandbox import state as st
from sandbox.shops import APP_SECRETS, LANGUAGES, SHOPS, Shop

# The router's error codes (the platform maps them to its own in connectors/temu.py).
PARAMETER_ERROR = 2000002
GOODS_NOT_FOUND = 2000010
SIGNATURE_INVALID = 3000001
TIMESTAMP_INVALID = 3000002
APP_KEY_INVALID = 3000003
TOKEN_LACKS_API = 3000032
TOKEN_INVALID = 3000033
TOKEN_EXPIRED = 3000034
RATE_LIMITED = 4000004
IP_NOT_WHITELISTED = 5000003
AUTH_CODE_INVALID = 7000016

PAGE_SIZE_MAX = 100
CREATE_TOKEN = "bg.open.accesstoken.create"
TOKEN_INFO = "bg.open.accesstoken.info.get"
GOODS_LIST = "bg.local.goods.list.query"
GOODS_DETAIL = "bg.local.goods.detail.query"
GOODS_UPDATE = "bg.local.goods.partial.update"
VOCABULARY_CHECK = "temu.local.goods.illegal.vocabulary.check"


class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def handle(state: st.SandboxState, body: bytes, client_ip: str, forced: str | None,
           base_url: str) -> dict[str, Any]:
    request_id = f"temu-{secrets.token_hex(8)}"
    try:
        result = _answer(state, body, client_ip, forced, base_url, request_id)
    except _Refused as refused:
        return {"success": False, "errorCode": refused.code, "errorMsg": refused.message,
                "requestId": request_id, "result": None}
    if forced == st.WRONG_SHAPE:
        result = ["not", "what", "the", "api", "promises"]
    return {"success": True, "errorCode": 1000000, "errorMsg": "", "requestId": request_id,
            "result": result}


def _answer(state: st.SandboxState, body: bytes, client_ip: str, forced: str | None,
            base_url: str, request_id: str) -> Any:
    try:
        params = json.loads(body)
    except ValueError as error:
        raise _Refused(PARAMETER_ERROR, "request body is not JSON") from error
    if not isinstance(params, dict):
        raise _Refused(PARAMETER_ERROR, "request body must be a JSON object")
    api = params.get("type")
    secret = APP_SECRETS.get(("temu", str(params.get("app_key"))))
    if secret is None:
        raise _Refused(APP_KEY_INVALID, "app_key is invalid")
    _check_timestamp(params.get("timestamp"))
    if params.get("data_type") != "JSON":
        raise _Refused(PARAMETER_ERROR, "data_type must be JSON")
    if params.get("sign") != temu_sign(params, secret) or forced == st.BAD_SIGNATURE:
        raise _Refused(SIGNATURE_INVALID, "sign is invalid")
    if forced == st.RATE_LIMIT or not state.allow_call(params["app_key"]):
        raise _Refused(RATE_LIMITED, "request too frequent, please try again later")

    if api == CREATE_TOKEN:
        state.record_request("temu", api)
        return _create_token(state, params)
    token = _token(state, params, forced)
    shop = SHOPS[token.shop_id]
    if forced == st.IP_NOT_WHITELISTED or client_ip not in state.ip_whitelist(shop.shop_id):
        raise _Refused(IP_NOT_WHITELISTED, f"ip {client_ip} is not in the whitelist")
    if api not in token.scopes or forced == st.PERMISSION_DENIED:
        raise _Refused(TOKEN_LACKS_API, f"access_token has no permission for {api}")
    state.record_request("temu", str(api), shop.shop_id)
    if api == TOKEN_INFO:
        return {"mallId": int(shop.shop_id), "mallName": shop.name,
                "regionId": shop.temu_region_id,
                "expiredTime": int(token.expires_at.timestamp()),
                "apiScopeList": list(token.scopes)}
    if api == GOODS_LIST:
        return _goods_list(state, shop, params, base_url)
    if api == GOODS_DETAIL:
        language = params.get("language", "en")
        if language not in LANGUAGES["temu"]:
            raise _Refused(PARAMETER_ERROR, f"unknown language {language!r}")
        return goods_json(state, shop, _product(shop, params.get("goodsId")), base_url,
                          language)
    if api == GOODS_UPDATE:
        return _partial_update(state, shop, params, request_id)
    if api == VOCABULARY_CHECK:
        return _vocabulary_check(shop, params)
    if api == traffic.TEMU_PERFORMANCE:
        return _performance(state, shop, params)
    raise _Refused(PARAMETER_ERROR, f"unknown type {api!r}")


def _check_timestamp(value: Any) -> None:
    if not isinstance(value, int | str) or not str(value).isdigit() or len(str(value)) != 10:
        raise _Refused(TIMESTAMP_INVALID, "timestamp must be 10-digit seconds")
    if abs(time.time() - int(value)) > st.TIMESTAMP_TOLERANCE_SECONDS:
        raise _Refused(TIMESTAMP_INVALID, "timestamp is out of the allowed range")


def _token(state: st.SandboxState, params: dict[str, Any], forced: str | None) -> st.Token:
    token = state.tokens.get(str(params.get("access_token")))
    if token is None:
        raise _Refused(TOKEN_INVALID, "access_token is invalid")
    if token.expired or forced == st.TOKEN_EXPIRED:
        raise _Refused(TOKEN_EXPIRED, "access_token has expired")
    return token


def _create_token(state: st.SandboxState, params: dict[str, Any]) -> dict[str, Any]:
    token = state.redeem_code(str(params.get("code", "")))
    if token is None:
        raise _Refused(AUTH_CODE_INVALID, "code is invalid, expired or already used")
    shop = SHOPS[token.shop_id]
    return {"accessToken": token.token, "accessTokenExpireTime": int(token.expires_at.timestamp()),
            "mallId": int(shop.shop_id), "mallName": shop.name,
            "regionId": shop.temu_region_id, "apiScopeList": list(token.scopes)}


def _goods_list(state: st.SandboxState, shop: Shop, params: dict[str, Any], base_url: str
                ) -> dict[str, Any]:
    page_no, page_size = params.get("pageNo"), params.get("pageSize")
    if not isinstance(page_no, int) or not isinstance(page_size, int) or page_no < 1 \
            or not 1 <= page_size <= PAGE_SIZE_MAX:
        raise _Refused(PARAMETER_ERROR, f"pageNo >= 1 and pageSize 1..{PAGE_SIZE_MAX} required")
    products = pool.page(shop.shop_id, shop.seed, shop.sku_count, page_no, page_size)
    return {"total": shop.sku_count, "pageNo": page_no, "pageSize": page_size,
            "goodsList": [goods_json(state, shop, item, base_url) for item in products]}


def _product(shop: Shop, goods_id: Any) -> pool.Product:
    index = pool.index_for(shop.shop_id, goods_id) if isinstance(goods_id, int) else None
    if index is None or index >= shop.sku_count:
        raise _Refused(GOODS_NOT_FOUND, f"goods {goods_id} not found")
    return pool.product(shop.shop_id, shop.seed, index)


def _partial_update(state: st.SandboxState, shop: Shop, params: dict[str, Any],
                    request_id: str) -> dict[str, Any]:
    product = _product(shop, params.get("goodsId"))
    content = params.get("content")
    language = params.get("language")
    if language not in LANGUAGES["temu"] or not isinstance(content, dict) or not content:
        raise _Refused(PARAMETER_ERROR, "language and a non-empty content object are required")
    unknown = set(content) - {"title", "bulletPoints", "description", "searchTerms"}
    if unknown:
        raise _Refused(PARAMETER_ERROR, f"unknown content fields {sorted(unknown)}")
    state.record_update({
        "marketplace": "temu", "shop_id": shop.shop_id, "goods_id": product.goods_id,
        "language": language, "title": content.get("title"),
        "bullet_points": content.get("bulletPoints"), "description": content.get("description"),
        "search_terms": content.get("searchTerms"),
        # None when the flag was not sent at all: tests can tell "missing" from "false".
        "ai_assisted": params.get("aiAssisted"), "request_id": request_id,
        "day": traffic.today().isoformat(),  # the sandbox clock's day (listing traffic)
    })
    state.delay_update_answer()  # applied: a detail call already shows it
    return {"goodsId": product.goods_id, "updated": True}


def _vocabulary_check(shop: Shop, params: dict[str, Any]) -> dict[str, Any]:
    """Temu's illegal-vocabulary check with its own word list (sandbox.vocabulary): any of
    goodsName, goodsDesc (strings) and bulletPoints (a list of strings)."""
    name, desc, bullets = (params.get(key) for key in ("goodsName", "goodsDesc",
                                                        "bulletPoints"))
    if (name is None and desc is None and bullets is None) \
            or any(value is not None and not isinstance(value, str) for value in (name, desc)) \
            or (bullets is not None and (not isinstance(bullets, list) or not all(
                isinstance(item, str) for item in bullets))):
        raise _Refused(PARAMETER_ERROR, "goodsName, goodsDesc (strings) or bulletPoints "
                                        "(a list of strings) required")
    if "goodsId" in params:
        _product(shop, params.get("goodsId"))
    found: list[dict[str, Any]] = []
    texts = [("goodsName", None, name), ("goodsDesc", None, desc),
             *(("bulletPoints", index, text) for index, text in enumerate(bullets or []))]
    for where, index, text in texts:
        for term, reason in vocabulary.findings("temu", text or ""):
            entry: dict[str, Any] = {"field": where, "vocabulary": term, "reasonCode": reason,
                                     "reason": vocabulary.REASONS[reason]}
            if index is not None:
                entry["index"] = index
            found.append(entry)
    return {"hasIllegalVocabulary": bool(found), "illegalVocabularyList": found}


def _performance(state: st.SandboxState, shop: Shop, params: dict[str, Any]) -> dict[str, Any]:
    try:
        rows = traffic.query(state.updates, shop.shop_id, shop.sku_count, params.get("goodsIdList"),
                             params.get("startDate"), params.get("endDate"), pool.index_for)
    except traffic.BadQuery as error:
        raise _Refused(PARAMETER_ERROR, str(error)) from error
    return {"statList": [
        {"goodsId": row.goods_id, "statDate": row.day.isoformat(), "impressionCnt": row.impressions,
         "clickCnt": row.clicks, "addCartCnt": row.add_to_cart, "orderCnt": row.orders,
         "gmv": {"amount": str(row.gmv), "currency": shop.currency}} for row in rows]}


def goods_json(state: st.SandboxState, shop: Shop, product: pool.Product, base_url: str,
               language: str = "en") -> dict[str, Any]:
    """The listing as a detail call shows it: what was written to it in `language`, over
    the product pool's original."""
    applied = state.applied_content(shop.shop_id, product.goods_id, language)
    return {
        "goodsId": product.goods_id,
        "outSkuSn": product.sku,
        "goodsName": applied.get("title", product.title),
        "catName": product.category,
        "goodsDesc": applied.get("description", product.description),
        "bulletPoints": list(applied.get("bullet_points", product.bullet_points)),
        "searchTerms": list(applied.get("search_terms", product.search_terms)),
        "goodsAttributes": [{"name": name, "value": value}
                            for name, value in product.attributes.items()],
        "goodsParameters": [{"name": name, "value": value}
                            for name, value in product.parameters.items()],
        "images": [{"url": base_url + image.path, "width": image.width, "height": image.height,
                    "watermark": image.has_watermark, "hasText": image.has_text}
                   for image in product.images],
        "price": {"amount": product.price, "currency": shop.currency},
    }
