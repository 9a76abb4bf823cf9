"""The sandbox's AliExpress IOP gateway: form POSTs to /sync (`method` names the API) and the
REST path /rest/auth/token/create, HMAC-SHA256 signed; errors are `{"code", "type", "message",
"request_id"}`, answers `{"<method>_response": {"result": ..., "request_id": ...}}`."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from marketplaces.signing import aliexpress_sign
from sandbox import pool, traffic, vocabulary
from sandbox import state as st
from sandbox.shops import APP_SECRETS, LANGUAGES, SHOPS, Shop

INCOMPLETE_SIGNATURE = "IncompleteSignature"
INVALID_TIMESTAMP = "InvalidTimestamp"
INVALID_APP_KEY = "InvalidAppKey"
ILLEGAL_ACCESS_TOKEN = "IllegalAccessToken"
INSUFFICIENT_PERMISSION = "InsufficientPermission"
API_CALL_LIMIT = "ApiCallLimit"
IP_NOT_WHITELISTED = "AppWhiteIpLimit"
INVALID_CODE = "InvalidCode"
INVALID_PARAMETER = "InvalidParameter"
PRODUCT_NOT_FOUND = "ProductNotFound"
# The edit is refused when a text breaks AliExpress's own content rules (sandbox.vocabulary);
# the error lists each finding. AliExpress has no separate check call.
CONTENT_ILLEGAL = "ProductContentIllegal"

TOKEN_PATH = "/auth/token/create"
TOKEN_INFO = "aliexpress.solution.token.info.get"
PRODUCT_LIST = "aliexpress.solution.product.list.get"
PRODUCT_INFO = "aliexpress.solution.product.info.get"
PRODUCT_EDIT = "aliexpress.solution.product.edit"
PAGE_SIZE_MAX = 100


class _Refused(Exception):
    def __init__(self, code: str, message: str, kind: str = "ISV",
                 violations: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind = kind
        self.violations = violations


def handle(state: st.SandboxState, api_path: str, body: bytes, client_ip: str,
           forced: str | None, base_url: str) -> dict[str, Any]:
    """`api_path` is "" for /sync and the REST path (e.g. /auth/token/create) otherwise."""
    request_id = secrets.token_hex(8)
    params = {key: values[-1] for key, values in parse_qs(body.decode("utf-8", "replace"),
                                                           keep_blank_values=True).items()}
    try:
        method, result = _answer(state, api_path, params, client_ip, forced, base_url,
                                 request_id)
    except _Refused as refused:
        error = {"type": refused.kind, "code": refused.code, "message": refused.message,
                 "request_id": request_id}
        if refused.violations is not None:
            error["violations"] = refused.violations
        return error
    if forced == st.WRONG_SHAPE:
        return {"code": "0", "request_id": request_id, "unexpected": "shape"}
    if api_path == TOKEN_PATH:
        return {**result, "code": "0", "request_id": request_id}
    return {f"{method.replace('.', '_')}_response": {"result": result, "request_id": request_id},
            "code": "0", "request_id": request_id}


def _answer(state: st.SandboxState, api_path: str, params: dict[str, str], client_ip: str,
            forced: str | None, base_url: str, request_id: str) -> tuple[str, Any]:
    secret = APP_SECRETS.get(("aliexpress", params.get("app_key", "")))
    if secret is None:
        raise _Refused(INVALID_APP_KEY, "The specified app key is invalid")
    _check_timestamp(params.get("timestamp", ""))
    if params.get("sign_method") != "sha256" \
            or params.get("sign") != aliexpress_sign(api_path, params, secret) \
            or forced == st.BAD_SIGNATURE:
        raise _Refused(INCOMPLETE_SIGNATURE, "The request signature does not conform to "
                                             "platform standards")
    if forced == st.RATE_LIMIT or not state.allow_call(params["app_key"]):
        raise _Refused(API_CALL_LIMIT, "App call limited, please try again later", "ISP")

    if api_path == TOKEN_PATH:
        state.record_request("aliexpress", TOKEN_PATH)
        return TOKEN_PATH, _create_token(state, params.get("code", ""))
    if api_path:
        raise _Refused(INVALID_PARAMETER, f"unknown API path {api_path}")
    method = params.get("method", "")
    token = _token(state, params.get("access_token") or params.get("session", ""), forced)
    shop = SHOPS[token.shop_id]
    if forced == st.IP_NOT_WHITELISTED or client_ip not in state.ip_whitelist(shop.shop_id):
        raise _Refused(IP_NOT_WHITELISTED, f"IP {client_ip} is not in the app white list")
    if method not in token.scopes or forced == st.PERMISSION_DENIED:
        raise _Refused(INSUFFICIENT_PERMISSION, f"Insufficient permission for {method}")
    state.record_request("aliexpress", method, shop.shop_id)
    if method == TOKEN_INFO:
        return method, {"seller_id": shop.shop_id, "shop_name": shop.name,
                        "country": shop.country,
                        "expire_time": int(token.expires_at.timestamp() * 1000),
                        "scopes": list(token.scopes)}
    if method == PRODUCT_LIST:
        query = _json_param(params, "aeop_a_e_product_list_query")
        return method, _product_list(state, shop, query, base_url)
    if method == PRODUCT_INFO:
        language = params.get("language") or "en"
        if language not in LANGUAGES["aliexpress"]:
            raise _Refused(INVALID_PARAMETER, f"unknown language {language!r}")
        return method, product_json(state, shop, _product(shop, params.get("product_id")),
                                    base_url, language)
    if method == PRODUCT_EDIT:
        return method, _edit(state, shop, _json_param(params, "edit_product_request"),
                             request_id)
    if method == traffic.ALIEXPRESS_PERFORMANCE:
        return method, _performance(state, shop, _json_param(params, "performance_query"))
    raise _Refused(INVALID_PARAMETER, f"unknown method {method!r}")


def _check_timestamp(value: str) -> None:
    if not value.isdigit() or len(value) != 13:
        raise _Refused(INVALID_TIMESTAMP, "timestamp must be 13-digit milliseconds")
    if abs(time.time() - int(value) / 1000) > st.TIMESTAMP_TOLERANCE_SECONDS:
        raise _Refused(INVALID_TIMESTAMP, "timestamp is out of the allowed range")


def _token(state: st.SandboxState, value: str, forced: str | None) -> st.Token:
    token = state.tokens.get(value)
    if token is None or token.expired or forced == st.TOKEN_EXPIRED:
        raise _Refused(ILLEGAL_ACCESS_TOKEN, "The specified access token is invalid or expired")
    return token


def _json_param(params: dict[str, str], name: str) -> dict[str, Any]:
    try:
        value = json.loads(params.get(name, ""))
    except ValueError as error:
        raise _Refused(INVALID_PARAMETER, f"{name} must be a JSON object") from error
    if not isinstance(value, dict):
        raise _Refused(INVALID_PARAMETER, f"{name} must be a JSON object")
    return value


def _create_token(state: st.SandboxState, code: str) -> dict[str, Any]:
    token = state.redeem_code(code)
    if token is None:
        raise _Refused(INVALID_CODE, "The authorization code is invalid, expired or used")
    shop = SHOPS[token.shop_id]
    expires_in = int(token.expires_at.timestamp() - time.time())
    return {"access_token": token.token, "expires_in": expires_in,
            "expire_time": int(token.expires_at.timestamp() * 1000),
            "refresh_token": secrets.token_hex(16), "seller_id": shop.shop_id,
            "user_nick": shop.name, "account_platform": "seller_center",
            "country": shop.country,
            "scopes": list(token.scopes)}


def _product_list(state: st.SandboxState, shop: Shop, query: dict[str, Any], base_url: str
                  ) -> dict[str, Any]:
    page_no, page_size = query.get("current_page"), query.get("page_size")
    if not isinstance(page_no, int) or not isinstance(page_size, int) or page_no < 1 \
            or not 1 <= page_size <= PAGE_SIZE_MAX:
        raise _Refused(INVALID_PARAMETER, f"current_page >= 1, page_size 1..{PAGE_SIZE_MAX}")
    products = pool.page(shop.shop_id, shop.seed, shop.sku_count, page_no, page_size)
    return {"current_page": page_no, "page_size": page_size, "product_count": shop.sku_count,
            "total_page": -(-shop.sku_count // page_size),
            "product_list": [product_json(state, shop, item, base_url) for item in products]}


def _product(shop: Shop, product_id: Any) -> pool.Product:
    index = pool.index_for(shop.shop_id, int(product_id)) \
        if str(product_id or "").isdigit() else None
    if index is None or index >= shop.sku_count:
        raise _Refused(PRODUCT_NOT_FOUND, f"product {product_id} not found")
    return pool.product(shop.shop_id, shop.seed, index)


def _edit(state: st.SandboxState, shop: Shop, request: dict[str, Any], request_id: str
          ) -> dict[str, Any]:
    product = _product(shop, request.get("product_id"))
    language = request.get("language")
    fields = {"subject", "bullet_points", "detail", "keywords"} & set(request)
    if language not in LANGUAGES["aliexpress"] or not fields:
        raise _Refused(INVALID_PARAMETER, "language and at least one content field required")
    violations = _content_violations(request)
    if violations:
        raise _Refused(CONTENT_ILLEGAL, "The product content violates AliExpress content rules",
                       violations=violations)
    state.record_update({
        "marketplace": "aliexpress", "shop_id": shop.shop_id, "goods_id": product.goods_id,
        "language": language, "title": request.get("subject"),
        "bullet_points": request.get("bullet_points"), "description": request.get("detail"),
        "search_terms": request.get("keywords"), "ai_assisted": request.get("ai_generated"),
        "request_id": request_id,
        "day": traffic.today().isoformat(),  # the sandbox clock's day (listing traffic)
    })
    state.delay_update_answer()  # applied: a detail call already shows it
    return {"success": True, "product_id": product.goods_id}


def _content_violations(request: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for name in ("subject", "detail", "bullet_points", "keywords"):
        value = request.get(name)
        texts = [(None, value)] if isinstance(value, str) else list(enumerate(value)) \
            if isinstance(value, list) else []
        for index, text in texts:
            for term, reason in vocabulary.findings("aliexpress", str(text)):
                entry: dict[str, Any] = {"field": name, "word": term, "reason_code": reason,
                                         "reason": vocabulary.REASONS[reason]}
                if index is not None:
                    entry["index"] = index
                found.append(entry)
    return found


def _performance(state: st.SandboxState, shop: Shop, query: dict[str, Any]) -> dict[str, Any]:
    try:
        rows = traffic.query(state.updates, shop.shop_id, shop.sku_count, query.get("product_ids"),
                             query.get("start_date"), query.get("end_date"), pool.index_for)
    except traffic.BadQuery as error:
        raise _Refused(INVALID_PARAMETER, str(error)) from error
    return {"performance_list": [
        {"product_id": row.goods_id, "stat_date": row.day.isoformat(), "exposure": row.impressions,
         "clicks": row.clicks, "add_cart": row.add_to_cart, "orders": row.orders,
         "gmv": str(row.gmv), "currency_code": shop.currency} for row in rows]}


def product_json(state: st.SandboxState, shop: Shop, product: pool.Product, base_url: str,
                 language: str = "en") -> dict[str, Any]:
    """The product as an info call shows it: what was written to it in `language`, over the
    product pool's original."""
    applied = state.applied_content(shop.shop_id, product.goods_id, language)
    return {
        "product_id": product.goods_id,
        "sku_code": product.sku,
        "subject": applied.get("title", product.title),
        "category_name": product.category,
        "detail": applied.get("description", product.description),
        "bullet_points": list(applied.get("bullet_points", product.bullet_points)),
        "keywords": list(applied.get("search_terms", product.search_terms)),
        "attributes": [{"attr_name": name, "attr_value": value}
                       for name, value in product.attributes.items()],
        "parameters": [{"param_name": name, "param_value": value}
                       for name, value in product.parameters.items()],
        "images": [{"url": base_url + image.path, "width": image.width, "height": image.height,
                    "watermark": image.has_watermark, "has_text": image.has_text}
                   for image in product.images],
        "price": product.price,
        "currency_code": shop.currency,
    }
