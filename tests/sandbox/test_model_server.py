"""The model sandbox, spoken to through the product's real client (the `openai` library) over
real HTTP, and through raw HTTP where the client would hide what the server sends."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

import httpx2
import openai
import pytest

from generation.content import (
    KIND_HEADER,
    LANGUAGE_ENDONYMS,
    LANGUAGE_HEADER,
    LENGTH_LIMITS,
    PRODUCT_DATA_HEADER,
    SHAPES,
    InvalidContent,
    length_limit,
    parse_content,
    text_fields,
)
from marketplaces.sites import Marketplace
from sandbox import pool
from sandbox.model_api import ModelSandboxState, start_sandbox

BANNED = re.compile(r"(?<![\w#])(?:#1|no\.\s?1|best|top|cheapest|guaranteed|perfect)(?!\w)",
                    re.IGNORECASE)
SYSTEM = ("You write marketplace listings. Answer with one JSON object in the shape asked for. "
          * 30)  # long and stable, like a real instruction set


def product_data(index: int = 0) -> dict:
    item = asdict(pool.product("300", 7, index))
    item.pop("images")
    item["flaws"] = sorted(item["flaws"])
    return item


def messages(kind: str = "title", language: str = "en", product: dict | None = None,
             system: str = SYSTEM, extra: str = "") -> list[dict]:
    user = (f"{KIND_HEADER} {kind}\n{LANGUAGE_HEADER} {language} "
            f"({LANGUAGE_ENDONYMS[language]})\n{extra}\n{PRODUCT_DATA_HEADER}\n"
            + json.dumps(product or product_data(), ensure_ascii=False))
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def client(sandbox, key: str = "sk-test-1234", **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=sandbox.base_url, api_key=key, max_retries=0,
                         timeout=options.pop("timeout", 10), **options)


def ask(sandbox, kind="title", language="en", model="deepseek-chat", **options):
    return client(sandbox).chat.completions.create(
        model=model, messages=options.pop("messages", None) or messages(kind, language),
        response_format={"type": "json_object"}, **options)


# -- content ----------------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "fr", "de", "es", "it", "ru", "pt"])
def test_every_kind_parses_within_temu_limits_and_is_clean(model_sandbox, language):
    openai_client = client(model_sandbox)
    for index in range(4):  # several products, some with banned words in their own title
        product = product_data(index)
        for kind in SHAPES:
            model = "deepseek-vl2" if kind == "image_description" else "deepseek-chat"
            answer = openai_client.chat.completions.create(
                model=model, messages=messages(kind, language, product))
            raw = answer.choices[0].message.content
            content = parse_content(kind, raw)
            assert LENGTH_LIMITS[Marketplace.TEMU][kind]
            for path, text in text_fields(kind, content):
                limit = length_limit(Marketplace.TEMU, kind, path)
                assert limit is None or len(text) <= limit, (kind, path, text)
                assert not BANNED.search(text), (kind, path, text)
            if language == "ru":
                assert re.search("[а-яА-Я]", raw), raw
            again = openai_client.chat.completions.create(
                model=model, messages=messages(kind, language, product))
            assert again.choices[0].message.content == raw  # deterministic


def test_language_tables_show(model_sandbox):
    texts = {language: ask(model_sandbox, "detail_modules", language).choices[0].message.content
             for language in ("fr", "de")}
    assert "Caractéristiques" in texts["fr"]
    assert "Technische Daten" in texts["de"]


def test_without_headers_answers_a_generic_object(model_sandbox):
    answer = client(model_sandbox).chat.completions.create(
        model="deepseek-chat", messages=[{"role": "user", "content": "Say hello"}])
    assert set(json.loads(answer.choices[0].message.content)) == {"text"}


def test_completion_object_and_models(model_sandbox):
    raw = client(model_sandbox).chat.completions.with_raw_response.create(
        model="my-own-model", messages=messages())
    answer = raw.parse()
    assert answer.id.startswith("chatcmpl-") and answer.object == "chat.completion"
    assert answer.model == "my-own-model"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.role == "assistant"
    first_id = raw.headers["x-request-id"]
    second = client(model_sandbox).chat.completions.with_raw_response.create(
        model="deepseek-chat", messages=messages())
    assert second.headers["x-request-id"] != first_id
    names = [item.id for item in client(model_sandbox).models.list()]
    assert {"deepseek-chat", "deepseek-vl2", "my-own-model"} <= set(names)


def test_stream_sends_chunks_and_done(model_sandbox):
    chunks = list(client(model_sandbox).chat.completions.create(
        model="deepseek-chat", messages=messages("bullet_points"), stream=True,
        stream_options={"include_usage": True}))
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert parse_content("bullet_points", text)
    assert chunks[-1].usage.completion_tokens > 0


def test_max_tokens_truncates_with_finish_reason_length(model_sandbox):
    answer = ask(model_sandbox, "livestream_script", max_tokens=10)
    assert answer.choices[0].finish_reason == "length"
    assert len(answer.choices[0].message.content) == 40


# -- usage and the prompt cache ------------------------------------------------------------------

def test_usage_counts_and_cache_hits_for_the_shared_prefix(model_sandbox):
    first = ask(model_sandbox, "title")
    usage = first.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens == -(-len(first.choices[0].message.content) // 4)
    assert usage.model_extra["prompt_cache_hit_tokens"] == 0
    assert usage.model_extra["prompt_cache_miss_tokens"] == usage.prompt_tokens

    other_product = messages("title", product=product_data(5))
    second = client(model_sandbox).chat.completions.create(model="deepseek-chat",
                                                           messages=other_product)
    hit = second.usage.model_extra["prompt_cache_hit_tokens"]
    system_tokens = len(SYSTEM) // 4
    assert hit % 64 == 0 and system_tokens - 64 < hit <= second.usage.prompt_tokens
    assert second.usage.prompt_tokens_details.cached_tokens == hit
    assert second.usage.model_extra["prompt_cache_miss_tokens"] == \
        second.usage.prompt_tokens - hit

    # Per API key: another key starts cold.
    cold = client(model_sandbox, key="sk-other-5678").chat.completions.create(
        model="deepseek-chat", messages=other_product)
    assert cold.usage.model_extra["prompt_cache_hit_tokens"] == 0


def test_cache_is_bounded():
    state = ModelSandboxState(cache_capacity=10)
    for number in range(50):
        state.cache_lookup("key", f"{number}" * 2000)
    assert len(state._cache) == 10


# -- images ---------------------------------------------------------------------------------------

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


def image_messages():
    plain = messages("image_description")
    plain[-1]["content"] = [{"type": "text", "text": plain[-1]["content"]}, IMAGE]
    return plain


def test_images_accepted_by_a_vision_model(model_sandbox):
    answer = client(model_sandbox).chat.completions.create(model="deepseek-vl2",
                                                           messages=image_messages())
    assert parse_content("image_description", answer.choices[0].message.content)


def test_images_refused_by_a_text_model(model_sandbox):
    with pytest.raises(openai.BadRequestError, match="does not support image input"):
        client(model_sandbox).chat.completions.create(model="deepseek-chat",
                                                      messages=image_messages())
    model_sandbox.state.vision_models.add("deepseek-chat")
    client(model_sandbox).chat.completions.create(model="deepseek-chat",
                                                  messages=image_messages())


def test_invalid_body_is_a_400_with_an_openai_error(model_sandbox):
    with pytest.raises(openai.BadRequestError) as caught:
        client(model_sandbox).chat.completions.create(
            model="deepseek-chat", messages=[{"role": "wizard", "content": "hi"}])
    assert caught.value.body["type"] == "invalid_request_error"
    response = httpx2.post(model_sandbox.base_url + "/chat/completions", content=b"{not json",
                           headers={"Authorization": "Bearer k"})
    assert response.status_code == 400 and "message" in response.json()["error"]


# -- authentication ------------------------------------------------------------------------------

def test_wrong_or_missing_key_is_401(model_sandbox):
    model_sandbox.state.api_keys = {"sk-good"}
    with pytest.raises(openai.AuthenticationError) as caught:
        client(model_sandbox, key="sk-bad").chat.completions.create(model="deepseek-chat",
                                                                    messages=messages())
    assert caught.value.code == "invalid_api_key"
    assert client(model_sandbox, key="sk-good").chat.completions.create(
        model="deepseek-chat", messages=messages()).choices
    response = httpx2.post(model_sandbox.base_url + "/chat/completions",
                           json={"model": "deepseek-chat", "messages": messages()})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


# -- behaviours -----------------------------------------------------------------------------------

def test_latency_answers_overlap(model_sandbox):
    model_sandbox.state.set_behaviour("deepseek-chat", latency_ms=200)
    openai_client = client(model_sandbox)
    started = time.monotonic()
    with ThreadPoolExecutor(32) as executor:
        answers = list(executor.map(
            lambda _n: openai_client.chat.completions.create(model="deepseek-chat",
                                                             messages=messages()), range(32)))
    elapsed = time.monotonic() - started
    assert len(answers) == 32
    assert 0.2 <= elapsed < 3.2  # serially it would take 6.4 s: under half proves the overlap


def test_hang_keeps_the_connection_alive_with_blank_lines(model_sandbox):
    model_sandbox.state.set_behaviour("deepseek-chat", hang=True, hang_seconds=1.6)
    body = b""
    with httpx2.stream("POST", model_sandbox.base_url + "/chat/completions",
                       json={"model": "deepseek-chat", "messages": messages()},
                       headers={"Authorization": "Bearer k"}, timeout=5) as response:
        assert response.status_code == 200
        for piece in response.iter_raw():
            body += piece
    blank, _brace, rest = body.partition(b"{")
    assert blank and blank.strip(b"\n") == b""  # only blank lines, one every 0.5 s
    assert json.loads(b"{" + rest)["object"] == "chat.completion"


def test_hang_defeats_a_read_timeout(model_sandbox):
    # The client's 1 s read timeout restarts with every blank line: only a deadline helps.
    model_sandbox.state.set_behaviour("deepseek-chat", hang=True, hang_seconds=2)
    started = time.monotonic()
    answer = client(model_sandbox, timeout=1.0).chat.completions.create(
        model="deepseek-chat", messages=messages())
    assert time.monotonic() - started >= 2
    assert parse_content("title", answer.choices[0].message.content)


def test_stop_ends_a_hanging_answer():
    running = start_sandbox()
    running.state.set_behaviour(hang=True)  # every model, until the client or server gives up
    body = json.dumps({"model": "deepseek-chat", "messages": messages()}).encode()
    with socket.create_connection(running.server.server_address[:2], timeout=5) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer k\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        received = b""
        while received.count(b"1\r\n\n\r\n") < 2:  # two blank-line chunks
            received += sock.recv(4096)
        assert received.startswith(b"HTTP/1.1 200")
        threading.Timer(0.1, running.stop).start()
        started = time.monotonic()
        while chunk := sock.recv(4096):
            received += chunk
        assert time.monotonic() - started < 2
    assert b"chat.completion" not in received


@pytest.mark.parametrize(("status", "error"), [
    (402, openai.APIStatusError), (429, openai.RateLimitError),
    (500, openai.InternalServerError), (503, openai.InternalServerError)])
def test_status_behaviours_raise_the_matching_errors(model_sandbox, status, error):
    model_sandbox.state.set_behaviour("deepseek-chat", count=1, status=status, retry_after=7)
    with pytest.raises(error) as caught:
        ask(model_sandbox)
    assert caught.value.status_code == status
    assert caught.value.body["message"]
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "7"
    if status == 402:
        assert caught.value.body["message"] == "Insufficient Balance"
    assert ask(model_sandbox).choices  # only the next one failed


def test_blank_and_invalid_json(model_sandbox):
    model_sandbox.state.set_behaviour("deepseek-chat", count=1, blank=True)
    model_sandbox.state.set_behaviour("deepseek-chat", count=1, invalid_json=True)
    for reason in ("blank", "Invalid JSON|EOF"):
        with pytest.raises(InvalidContent, match=reason):
            parse_content("title", ask(model_sandbox).choices[0].message.content)


def test_banned_words_unless_strict_compliance(model_sandbox):
    state = model_sandbox.state
    state.set_behaviour("deepseek-chat", banned_words=True)
    spoiled = ask(model_sandbox, "bullet_points").choices[0].message.content
    assert BANNED.search(spoiled)
    assert parse_content("bullet_points", spoiled)
    strict = messages("bullet_points", extra="Strict compliance: no superlatives.")
    clean = ask(model_sandbox, messages=strict).choices[0].message.content
    assert not BANNED.search(clean)

    state.set_behaviour("deepseek-chat", banned_words_always=True)  # replaces the standing one
    assert BANNED.search(ask(model_sandbox, messages=strict).choices[0].message.content)


def test_connection_reset(model_sandbox):
    model_sandbox.state.set_behaviour("deepseek-chat", count=1, connection_reset=True)
    with pytest.raises(openai.APIConnectionError):
        ask(model_sandbox)
    assert ask(model_sandbox).choices


def test_behaviour_is_per_model(model_sandbox):
    model_sandbox.state.set_behaviour("primary-model", status=503)
    with pytest.raises(openai.InternalServerError):
        ask(model_sandbox, model="primary-model")
    assert ask(model_sandbox, model="backup-model").choices
    with pytest.raises(openai.InternalServerError):
        ask(model_sandbox, model="primary-model")  # until reset
    model_sandbox.state.reset()
    assert ask(model_sandbox, model="primary-model").choices


def test_unknown_behaviour_is_refused():
    with pytest.raises(ValueError, match="unknown behaviour"):
        ModelSandboxState().set_behaviour(slow=True)
    with pytest.raises(ValueError, match="status"):
        ModelSandboxState().set_behaviour(status=418)


# -- records and control --------------------------------------------------------------------------

def test_requests_are_recorded_and_bounded(model_sandbox):
    ask(model_sandbox)
    record = model_sandbox.state.requests[-1]
    assert record["model"] == "deepseek-chat" and record["status"] == 200
    assert record["api_key_suffix"] == "1234" and record["messages"][0]["role"] == "system"
    assert record["request_id"] and record["at"]
    assert model_sandbox.state.counts["total"] == 1

    state = ModelSandboxState(max_recorded=3)
    for number in range(5):
        state.record({"model": "m", "number": number})
    assert [item["number"] for item in state.requests] == [2, 3, 4]
    assert state.counts["m"] == 5


def test_control_endpoint(model_sandbox):
    url = model_sandbox.url + "/__sandbox__"
    response = httpx2.post(url + "/models/deepseek-chat/behaviour",
                           json={"status": 503, "count": 1})
    assert response.status_code == 200 and response.json()["behaviour"]["status"] == 503
    with pytest.raises(openai.InternalServerError):
        ask(model_sandbox)
    assert ask(model_sandbox).choices
    for bad in ({"bogus": 1}, {"hang": "yes"}, {"latency_ms": "200"}, {"status": 418}):
        assert httpx2.post(url + "/models/deepseek-chat/behaviour",
                           json=bad).status_code == 400

    records = httpx2.get(url + "/requests").json()
    assert [item["status"] for item in records["requests"]] == [503, 200]
    assert records["counts"]["total"] == 2

    httpx2.post(url + "/models/deepseek-chat/behaviour", json={"latency_ms": 50})
    assert httpx2.post(url + "/reset", json={}).json() == {"ok": True}
    assert httpx2.get(url + "/requests").json()["requests"] == []
    assert model_sandbox.state.behaviours() == []
