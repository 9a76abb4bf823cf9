"""Signature vectors built by hand here, not with our signing code, so a bug in one is caught."""

from __future__ import annotations

import hashlib
import hmac

from marketplaces.signing import aliexpress_sign, temu_sign


def test_temu_signature_is_uppercase_md5_of_secret_sorted_pairs_secret():
    params = {"type": "bg.local.goods.list.query", "app_key": "k1", "timestamp": 1700000000,
              "data_type": "JSON", "access_token": "tok", "pageNo": 2, "pageSize": 50,
              "sign": "ignored"}
    # ASCII order: uppercase letters sort before lowercase ones ("pageNo" < "pageSize").
    expected_input = ("s3cret" "access_tokentok" "app_keyk1" "data_typeJSON" "pageNo2"
                      "pageSize50" "timestamp1700000000" "typebg.local.goods.list.query"
                      "s3cret")
    expected = hashlib.md5(expected_input.encode()).hexdigest().upper()

    assert temu_sign(params, "s3cret") == expected
    assert expected == "19DCC0D1AFB0E19ED6980BE8BB30699A"  # a fixed vector


def test_temu_signature_of_nested_objects_and_booleans():
    params = {"type": "bg.local.goods.partial.update", "goodsId": 601099000100004,
              "content": {"title": "Café Mug", "bulletPoints": ["a", "b"]},
              "aiAssisted": True, "Zeta": False}
    expected_input = ("S" "Zetafalse" "aiAssistedtrue"
                      'content{"title":"Café Mug","bulletPoints":["a","b"]}'
                      "goodsId601099000100004" "typebg.local.goods.partial.update" "S")

    assert temu_sign(params, "S") == hashlib.md5(expected_input.encode()).hexdigest().upper()


def test_aliexpress_sync_signature_is_hmac_sha256_over_sorted_pairs():
    params = {"method": "aliexpress.solution.product.list.get", "app_key": "503118",
              "timestamp": "1700000000000", "sign_method": "sha256", "access_token": "tok",
              "aeop_a_e_product_list_query": '{"current_page": 1, "page_size": 20}'}
    # ASCII order: "access_token" < "aeop_..." ('c' < 'e').
    message = ("access_tokentok" 'aeop_a_e_product_list_query{"current_page": 1, "page_size": 20}'
               "app_key503118" "methodaliexpress.solution.product.list.get"
               "sign_methodsha256" "timestamp1700000000000")
    expected = hmac.new(b"sec", message.encode(), hashlib.sha256).hexdigest().upper()

    assert aliexpress_sign("", params, "sec") == expected
    assert aliexpress_sign("", {**params, "sign": expected}, "sec") == expected


def test_aliexpress_rest_signature_starts_with_the_api_path():
    params = {"app_key": "503118", "timestamp": "1700000000000", "sign_method": "sha256",
              "code": "abc"}
    message = ("/auth/token/create" "app_key503118" "codeabc" "sign_methodsha256"
               "timestamp1700000000000")
    expected = hmac.new(b"sec", message.encode(), hashlib.sha256).hexdigest().upper()

    assert aliexpress_sign("/auth/token/create", params, "sec") == expected
    assert aliexpress_sign("", params, "sec") != expected
