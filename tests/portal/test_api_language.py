"""The API's parse errors in the caller's language: the JSON parser's own English words only as a
detail under a translated message (it read "JSON parse error - Expecting value ...")."""

from __future__ import annotations

import re

from django.test import Client

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_a_broken_json_body_is_explained_in_chinese(world_a):
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {world_a.raw_api_key}",
                    HTTP_ACCEPT_LANGUAGE="zh-hans")
    response = client.post("/api/v1/reviews/publish/", '{"ids": [1,',
                           content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "parse_error"
    assert CJK.search(body["message"]) and "第 1 行第 12 列" in body["message"]
    assert "Expecting" not in body["message"]
    assert body["details"] == {"line": 1, "column": 12, "parser_message": "Expecting value"}


def test_a_body_that_is_not_utf8_is_explained(world_a):
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {world_a.raw_api_key}",
                    HTTP_ACCEPT_LANGUAGE="en")
    response = client.post("/api/v1/reviews/publish/", b'{"ids": "\xff"}',
                           content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["message"].startswith("The body is not valid JSON")
    assert "codec" not in body["message"] and "codec" in body["details"]["parser_message"]
