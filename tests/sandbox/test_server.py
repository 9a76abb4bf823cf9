"""The sandbox's own checks, spoken to in raw HTTP with signatures built here by hand."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from sandbox import shops
from sandbox.marketplace import start_sandbox
from sandbox.shops import ALIEXPRESS_SHOP_300, TEMU_SHOP_300


def temu_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def temu_post(sandbox, api: str, *, token: str | None = None, secret=shops.TEMU_APP_SECRET,
              app_key=shops.TEMU_APP_KEY, timestamp: int | None = None, forge=False,
              **params) -> dict:
    body = {"type": api, "app_key": app_key, "data_type": "JSON",
            "timestamp": timestamp or int(time.time()), **params}
    if token is not None:
        body["access_token"] = token
    text = "".join(f"{key}{temu_value(body[key])}" for key in sorted(body))
    body["sign"] = hashlib.md5(f"{secret}{text}{secret}".encode()).hexdigest().upper()
    if forge:
        body["pageSize"] = 99  # changed after signing
    return requests.post(sandbox.temu_gateway_url, json=body, timeout=5).json()


def ae_post(sandbox, method: str = "", *, path: str = "", token: str | None = None,
            secret=shops.ALIEXPRESS_APP_SECRET, timestamp: int | None = None, **params) -> dict:
    form = {"app_key": shops.ALIEXPRESS_APP_KEY, "sign_method": "sha256",
            "timestamp": str(timestamp or int(time.time() * 1000)), **params}
    if method:
        form["method"] = method
    if token is not None:
        form["access_token"] = token
    message = path + "".join(f"{key}{form[key]}" for key in sorted(form))
    form["sign"] = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest().upper()
    url = sandbox.url + ("/rest" + path if path else "/sync")
    return requests.post(url, data=form, timeout=5).json()


LIST = "bg.local.goods.list.query"


@pytest.fixture
def temu_token(sandbox) -> str:
    return sandbox.state.issue_token(TEMU_SHOP_300).token


def test_a_correct_temu_call_is_answered(sandbox, temu_token):
    answer = temu_post(sandbox, LIST, token=temu_token, pageNo=2, pageSize=20)
    assert answer["success"] is True and answer["requestId"]
    assert answer["result"]["total"] == 300 and len(answer["result"]["goodsList"]) == 20


# Callables: timestamps must be taken when the test runs, not when it is collected.
@pytest.mark.parametrize(("change", "error_code"), [
    (lambda: {"forge": True}, 3000001),
    (lambda: {"secret": "not-the-secret"}, 3000001),
    (lambda: {"timestamp": int(time.time()) - 301}, 3000002),
    (lambda: {"timestamp": int(time.time()) + 400}, 3000002),
    (lambda: {"timestamp": int(time.time() * 1000)}, 3000002),  # milliseconds: wrong for Temu
    (lambda: {"app_key": "someone-else"}, 3000003),
])
def test_temu_request_verification(sandbox, temu_token, change, error_code):
    answer = temu_post(sandbox, LIST, token=temu_token, pageNo=1, pageSize=10, **change())
    assert (answer["success"], answer["errorCode"]) == (False, error_code)
    assert sandbox.state.requests == []


def test_temu_expired_token_reused_code_ip_and_scope(sandbox, temu_token):
    code = sandbox.state.issue_code(TEMU_SHOP_300)
    first = temu_post(sandbox, "bg.open.accesstoken.create", code=code)
    assert first["success"] is True
    again = temu_post(sandbox, "bg.open.accesstoken.create", code=code)
    assert again["errorCode"] == 7000016
    stale = sandbox.state.issue_code(TEMU_SHOP_300, valid_for=timedelta(days=-1))
    assert temu_post(sandbox, "bg.open.accesstoken.create", code=stale)["errorCode"] == 7000016

    sandbox.state.set_ip_whitelist(TEMU_SHOP_300, [])
    assert temu_post(sandbox, LIST, token=temu_token, pageNo=1, pageSize=5)["errorCode"] == \
        5000003
    sandbox.state.set_ip_whitelist(TEMU_SHOP_300, ["127.0.0.1"])
    sandbox.state.set_scopes(TEMU_SHOP_300, ["bg.open.accesstoken.info.get"])
    assert temu_post(sandbox, LIST, token=temu_token, pageNo=1, pageSize=5)["errorCode"] == \
        3000032
    sandbox.state.expire_tokens(TEMU_SHOP_300)
    assert temu_post(sandbox, LIST, token=temu_token, pageNo=1, pageSize=5)["errorCode"] == \
        3000034


@pytest.mark.parametrize("page", [{"pageNo": 0, "pageSize": 10}, {"pageNo": 1, "pageSize": 101},
                                  {"pageNo": "1", "pageSize": 10}])
def test_temu_paging_is_validated(sandbox, temu_token, page):
    assert temu_post(sandbox, LIST, token=temu_token, **page)["errorCode"] == 2000002


def test_temu_rate_limit_per_app_key(sandbox, temu_token):
    sandbox.state.requests_per_second = 2
    started = time.monotonic()
    answers = [temu_post(sandbox, LIST, token=temu_token, pageNo=1, pageSize=1)
               for _ in range(3)]
    if time.monotonic() - started < 1.0:  # all three inside one second
        assert [answer["success"] for answer in answers] == [True, True, False]
        assert answers[2]["errorCode"] == 4000004


def test_temu_update_without_content_is_refused(sandbox, temu_token):
    answer = temu_post(sandbox, "bg.local.goods.partial.update", token=temu_token,
                       goodsId=601099000000000, language="en", content={}, aiAssisted=True)
    assert answer["success"] is False
    assert sandbox.state.updates == []


def test_a_correct_aliexpress_call_is_answered(sandbox):
    token = sandbox.state.issue_token(ALIEXPRESS_SHOP_300).token
    answer = ae_post(sandbox, "aliexpress.solution.product.list.get", token=token,
                     aeop_a_e_product_list_query='{"current_page": 3, "page_size": 100}')
    result = answer["aliexpress_solution_product_list_get_response"]["result"]
    assert (result["product_count"], result["total_page"], len(result["product_list"])) == \
        (300, 3, 100)


@pytest.mark.parametrize(("change", "error_code"), [
    ({"secret": "forged"}, "IncompleteSignature"),
    ({"timestamp": int(time.time() * 1000) - 301_000}, "InvalidTimestamp"),
    ({"timestamp": int(time.time())}, "InvalidTimestamp"),  # seconds: wrong for IOP
])
def test_aliexpress_request_verification(sandbox, change, error_code):
    token = sandbox.state.issue_token(ALIEXPRESS_SHOP_300).token
    answer = ae_post(sandbox, "aliexpress.solution.token.info.get", token=token, **change)
    assert answer["code"] == error_code


def test_aliexpress_token_creation_signs_the_path(sandbox):
    code = sandbox.state.issue_code(ALIEXPRESS_SHOP_300)
    # Signed as if it were a /sync call: refused.
    form = {"app_key": shops.ALIEXPRESS_APP_KEY, "sign_method": "sha256", "code": code,
            "timestamp": str(int(time.time() * 1000))}
    message = "".join(f"{key}{form[key]}" for key in sorted(form))
    form["sign"] = hmac.new(shops.ALIEXPRESS_APP_SECRET.encode(), message.encode(),
                            hashlib.sha256).hexdigest().upper()
    refused = requests.post(sandbox.url + "/rest/auth/token/create", data=form, timeout=5).json()
    assert refused["code"] == "IncompleteSignature"

    answer = ae_post(sandbox, path="/auth/token/create", code=code)
    assert answer["code"] == "0" and answer["seller_id"] == ALIEXPRESS_SHOP_300
    assert ae_post(sandbox, path="/auth/token/create", code=code)["code"] == "InvalidCode"
    expired_token = answer["access_token"]
    sandbox.state.expire_tokens(token=expired_token)
    assert ae_post(sandbox, "aliexpress.solution.token.info.get",
                   token=expired_token)["code"] == "IllegalAccessToken"


def test_aliexpress_wrong_app_key(sandbox):
    form = {"app_key": "999", "sign_method": "sha256", "timestamp": str(int(time.time() * 1000)),
            "method": "aliexpress.solution.token.info.get", "sign": "X"}
    assert requests.post(sandbox.aliexpress_gateway_url, data=form,
                         timeout=5).json()["code"] == "InvalidAppKey"


# -- seller center and control ------------------------------------------------------------

def test_seller_center_issues_single_use_codes(sandbox):
    page = requests.get(sandbox.url + "/seller-center/", timeout=5)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    for shop in shops.SHOPS.values():
        assert shop.shop_id in page.text

    issued = requests.post(sandbox.url + "/seller-center/authorize",
                           data={"shop_id": TEMU_SHOP_300}, timeout=5)
    [code] = [entry.code for entry in sandbox.state.codes.values()]
    assert code in issued.text and "7 days" in issued.text
    assert sandbox.state.codes[code].shop_id == TEMU_SHOP_300


def test_json_control_endpoints(sandbox):
    control = sandbox.url + "/__sandbox__/"
    shops_listed = requests.get(control + "shops", timeout=5).json()
    assert {shop["shop_id"] for shop in shops_listed} == set(shops.SHOPS)
    code = requests.post(control + "codes", json={"shop_id": TEMU_SHOP_300}, timeout=5).json()
    assert sandbox.state.codes[code["code"]].shop_id == TEMU_SHOP_300
    assert requests.post(control + "fail", json={"kind": "html"}, timeout=5).json()["ok"]
    assert sandbox.state.take_failure("temu") == "html"
    bad = requests.post(control + "fail", json={"kind": "nonsense"}, timeout=5)
    assert bad.status_code == 400
    requests.post(control + "ip-whitelist", json={"shop_id": TEMU_SHOP_300, "ips": []},
                  timeout=5)
    assert sandbox.state.ip_whitelist(TEMU_SHOP_300) == set()
    assert requests.get(control + "updates", timeout=5).json() == []
    requests.post(control + "reset", json={}, timeout=5)
    assert sandbox.state.codes == {} and sandbox.state.ip_whitelist(TEMU_SHOP_300) == \
        {"127.0.0.1"}


def test_failures_can_target_one_marketplace(sandbox, temu_token):
    sandbox.state.fail_next("html", marketplace="aliexpress")
    assert temu_post(sandbox, LIST, token=temu_token, pageNo=1, pageSize=1)["success"] is True
    assert sandbox.state.take_failure("aliexpress") == "html"


def test_images_are_real_jpegs_and_pngs_of_the_announced_size(sandbox, temu_token):
    import io

    from PIL import Image

    goods = temu_post(sandbox, LIST, token=temu_token, pageNo=1, pageSize=1)["result"][
        "goodsList"][0]
    for image, kind in zip(goods["images"][:2], ("JPEG", "PNG"), strict=True):
        answer = requests.get(image["url"], timeout=5)
        assert answer.headers["Content-Type"] == f"image/{kind.lower()}"
        picture = Image.open(io.BytesIO(answer.content))
        assert (picture.format, picture.size) == (kind, (image["width"], image["height"]))
        again = requests.get(image["url"], headers={"If-None-Match": answer.headers["ETag"]},
                             timeout=5)
        assert again.status_code == 304 and again.content == b""
    assert requests.get(goods["images"][0]["url"].replace(".jpg", ".png"),
                        timeout=5).status_code == 404


def test_stop_does_not_wait_for_a_slow_answer():
    running = start_sandbox()
    running.state.slow_seconds = 30
    running.state.fail_next("slow")
    with pytest.raises(requests.Timeout):
        requests.post(running.temu_gateway_url, json={}, timeout=0.3)
    running.stop()
    assert not running.thread.is_alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(running.url + "/seller-center/", timeout=2)


def test_management_command_serves_the_sandbox():
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, str(manage), "run_marketplace_sandbox", "--port", "0"],
        stdout=subprocess.PIPE, text=True)
    try:
        first_line = process.stdout.readline()  # printed once the server listens
        assert first_line.startswith("Marketplace sandbox at http://127.0.0.1:")
        url = first_line.split(" at ", 1)[1].strip()
        assert "Generate authorization code" in requests.get(url + "seller-center/",
                                                             timeout=5).text
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- goods detail from what was written; the marketplaces' own content rules ---------------

CHECK = "temu.local.goods.illegal.vocabulary.check"


def test_temu_vocabulary_check_speaks_the_protocol(sandbox):
    token = sandbox.state.issue_token(TEMU_SHOP_300).token
    goods = shops_goods(TEMU_SHOP_300, 2)
    answer = temu_post(sandbox, CHECK, token=token, goodsId=goods,
                       goodsName="Hypoallergenic Pillow", bulletPoints=["Soft", "Number One"])
    assert answer["success"] is True
    assert answer["result"] == {"hasIllegalVocabulary": True, "illegalVocabularyList": [
        {"field": "goodsName", "vocabulary": "hypoallergenic", "reasonCode": "MEDICAL_CLAIM",
         "reason": "Medical or health claims are not allowed"},
        {"field": "bulletPoints", "index": 1, "vocabulary": "number one",
         "reasonCode": "EXAGGERATED_CLAIM",
         "reason": "Exaggerated or superlative claims are not allowed"}]}
    clean = temu_post(sandbox, CHECK, token=token, goodsDesc="A soft pillow.")
    assert clean["result"] == {"hasIllegalVocabulary": False, "illegalVocabularyList": []}
    for bad in ({}, {"goodsName": 3}, {"bulletPoints": "not a list"},
                {"bulletPoints": ["ok", 1]}):
        refused = temu_post(sandbox, CHECK, token=token, **bad)
        assert (refused["success"], refused["errorCode"]) == (False, 2000002), bad
    assert sandbox.state.updates == []


def test_the_detail_serves_what_was_written_per_language(sandbox):
    token = sandbox.state.issue_token(TEMU_SHOP_300).token
    goods = shops_goods(TEMU_SHOP_300, 4)
    original = temu_post(sandbox, "bg.local.goods.detail.query", token=token,
                         goodsId=goods)["result"]["goodsName"]
    temu_post(sandbox, "bg.local.goods.partial.update", token=token, goodsId=goods,
              language="de", content={"title": "Kissenbezug"}, aiAssisted=True)
    detail = temu_post(sandbox, "bg.local.goods.detail.query", token=token, goodsId=goods,
                       language="de")["result"]
    assert detail["goodsName"] == "Kissenbezug"
    assert temu_post(sandbox, "bg.local.goods.detail.query", token=token,
                     goodsId=goods)["result"]["goodsName"] == original
    assert temu_post(sandbox, "bg.local.goods.detail.query", token=token, goodsId=goods,
                     language="xx")["errorCode"] == 2000002


def test_an_update_can_be_answered_late_after_it_was_applied(sandbox):
    """What a worker killed while waiting for the answer leaves behind: the write landed."""
    token = sandbox.state.issue_token(TEMU_SHOP_300).token
    goods = shops_goods(TEMU_SHOP_300, 6)
    sandbox.state.update_answer_delay_seconds = 2.0
    with pytest.raises(requests.Timeout):
        body = {"type": "bg.local.goods.partial.update", "app_key": shops.TEMU_APP_KEY,
                "data_type": "JSON", "timestamp": int(time.time()), "access_token": token,
                "goodsId": goods, "language": "en", "content": {"title": "Late answer"},
                "aiAssisted": True}
        text = "".join(f"{key}{temu_value(body[key])}" for key in sorted(body))
        secret = shops.TEMU_APP_SECRET
        body["sign"] = hashlib.md5(f"{secret}{text}{secret}".encode()).hexdigest().upper()
        requests.post(sandbox.temu_gateway_url, json=body, timeout=0.5)
    assert sandbox.state.applied_content(TEMU_SHOP_300, goods, "en") == {"title": "Late answer"}
    sandbox.state.reset()
    assert sandbox.state.update_answer_delay_seconds == 0


def test_aliexpress_edit_refuses_its_own_words_with_the_findings(sandbox):
    token = sandbox.state.issue_token(ALIEXPRESS_SHOP_300).token
    goods = shops_goods(ALIEXPRESS_SHOP_300, 2)
    answer = ae_post(sandbox, "aliexpress.solution.product.edit", token=token,
                     edit_product_request=json.dumps({
                         "product_id": goods, "language": "fr", "subject": "Montre replica",
                         "keywords": ["watch", "1:1 copy"], "ai_generated": True}))
    assert answer["code"] == "ProductContentIllegal"
    assert answer["violations"] == [
        {"field": "subject", "word": "replica", "reason_code": "COUNTERFEIT",
         "reason": "Wording that suggests a counterfeit is not allowed"},
        {"field": "keywords", "index": 1, "word": "1:1 copy", "reason_code": "COUNTERFEIT",
         "reason": "Wording that suggests a counterfeit is not allowed"}]
    assert sandbox.state.updates == []


def shops_goods(shop_id: str, index: int) -> int:
    from sandbox import pool

    return pool.goods_id_for(shop_id, index)
