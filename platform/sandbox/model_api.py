"""The model sandbox: a real HTTP server that speaks the OpenAI chat-completions protocol (as
DeepSeek's hosted API and vLLM / SGLang / Ollama do), so the product's model client (the
official `openai` library) is tested over real HTTP. Only the base URL differs.

    GET  /v1/models                                 the known model names
    POST /v1/chat/completions                       answers in generation.content's shapes
    POST /v1/images/generations, /v1/images/edits   real, deterministic PNGs (sandbox.images)
    POST /__sandbox__/models/<model>/behaviour      JSON control for the demo
    GET  /__sandbox__/requests, POST /__sandbox__/reset

It can be told, per model name, to be slow, hang, fail with 402/429/500/503, answer blank or
broken JSON, use banned words, write in the wrong language, invent facts, refuse, leave
placeholders, or hang up (tests use `state.set_behaviour` directly).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import math
import secrets
import socket
import threading
import time
from collections import Counter, OrderedDict, deque
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from sandbox import model_content

logger = logging.getLogger(__name__)

DEFAULT_MODELS = ("deepseek-chat", "deepseek-vl2")
VISION_MARKERS = ("vl", "vision")
ANY_MODEL = "*"  # a behaviour for every model without its own
MAX_BODY_BYTES = 20_000_000  # images come inline as data URLs
CACHE_UNIT_TOKENS = 64  # DeepSeek's context cache works in 64-token units
HANG_INTERVAL_SECONDS = 0.5
STRICT_MARKER = "strict compliance"
STATUSES = {  # OpenAI-style error bodies for the statuses the sandbox can be told to answer
    402: ("Insufficient Balance", "invalid_request_error", "insufficient_balance"),
    429: ("Rate limit reached for requests. Please retry after a short wait.",
          "rate_limit_error", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error",
          "internal_error"),
    503: ("The server is overloaded, please try again later.", "server_error",
          "service_unavailable"),
}
_ROLES = {"system", "user", "assistant", "developer", "tool"}


def estimate_tokens(text: str) -> int:
    """Roughly 4 characters a token, as OpenAI's rule of thumb; real tokenizers differ, but
    tests need a stable, explainable number."""
    return math.ceil(len(text) / 4)


# -- state ------------------------------------------------------------------------------------

@dataclass
class Behaviour:
    latency_ms: int = 0
    hang: bool = False
    hang_seconds: float | None = None  # None: until the client hangs up or the server stops
    status: int | None = None  # 402, 429, 500 or 503
    retry_after: int = 1  # seconds, with status 429
    blank: bool = False
    invalid_json: bool = False
    banned_words: bool = False  # except when the request asks for STRICT COMPLIANCE
    banned_words_always: bool = False
    # The defects the quality gates (generation.gates) must catch:
    wrong_language: bool = False  # written in another of the 7 languages than asked
    invented_facts: bool = False  # a material, number or colour the product data contradicts
    refusal: bool = False  # "I cannot fulfil this request" in place of the first text
    placeholder: bool = False  # "[brand]" and "lorem ipsum" left in the first text
    connection_reset: bool = False

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Behaviour:
        known = {item.name for item in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown behaviour {sorted(unknown)}; known: {sorted(known)}")
        for name, value in values.items():  # the demo sends JSON by hand: check the types
            flag = isinstance(getattr(cls, name), bool)
            if value is None or isinstance(value, bool) == flag and (
                    flag or isinstance(value, int | float)):
                continue
            raise ValueError(f"{name} must be {'true or false' if flag else 'a number'}")
        behaviour = cls(**values)
        if behaviour.status is not None and int(behaviour.status) not in STATUSES:
            raise ValueError(f"status must be one of {sorted(STATUSES)}")
        if int(behaviour.latency_ms) < 0:
            raise ValueError("latency_ms must not be negative")
        return behaviour


@dataclass
class _Rule:
    model: str
    behaviour: Behaviour
    remaining: int | None  # None: until reset


@dataclass
class ModelSandboxState:
    """Everything the sandbox remembers, shared by the server's threads (changes hold the
    lock; nothing sleeps while holding it)."""

    api_keys: set[str] | None = None  # None: any non-empty key is accepted
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    vision_models: set[str] = field(default_factory=set)  # vision-capable whatever the name
    max_recorded: int = 1000
    cache_capacity: int = 4096  # prefix hashes remembered, over all keys (LRU)
    requests: deque[dict[str, Any]] = field(default_factory=deque)
    counts: Counter[str] = field(default_factory=Counter)  # per model, and "total"
    _rules: list[_Rule] = field(default_factory=list)
    _cache: OrderedDict[bytes, None] = field(default_factory=OrderedDict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    stopping: threading.Event = field(default_factory=threading.Event)

    # -- control -------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.api_keys = None
            self.models = list(DEFAULT_MODELS)
            self.vision_models.clear()
            self.requests.clear()
            self.counts.clear()
            self._rules.clear()
            self._cache.clear()

    def set_behaviour(self, model: str = ANY_MODEL, count: int | None = None,
                      **behaviour: Any) -> Behaviour:
        """How `model` (or "*": every model) answers: the next `count` requests, or all until
        reset/clear_behaviour when count is None. Counted rules go first, in order."""
        parsed = Behaviour.from_mapping(behaviour)
        if count is not None and int(count) < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            if count is None:  # replaces the model's standing behaviour
                self._rules = [rule for rule in self._rules
                               if rule.model != model or rule.remaining is not None]
            self._rules.append(_Rule(model, parsed, None if count is None else int(count)))
        return parsed

    def clear_behaviour(self, model: str | None = None) -> None:
        with self._lock:
            self._rules = [rule for rule in self._rules
                           if model is not None and rule.model != model]

    def behaviours(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"model": rule.model, "remaining": rule.remaining,
                     **asdict(rule.behaviour)} for rule in self._rules]

    def supports_images(self, model: str) -> bool:
        name = model.lower()
        return model in self.vision_models or any(mark in name for mark in VISION_MARKERS)

    def requests_for(self, model: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [item for item in self.requests if model is None or item["model"] == model]

    # -- used by the handler -------------------------------------------------------------

    def key_accepted(self, key: str) -> bool:
        with self._lock:
            return bool(key) and (self.api_keys is None or key in self.api_keys)

    def take_behaviour(self, model: str) -> Behaviour:
        with self._lock:
            counted = [rule for rule in self._rules if rule.remaining is not None]
            standing = [rule for rule in self._rules if rule.remaining is None]
            for group in (counted, standing):
                for wanted in (model, ANY_MODEL):
                    for rule in group:
                        if rule.model == wanted:
                            if rule.remaining is not None:
                                rule.remaining -= 1
                                if rule.remaining <= 0:
                                    self._rules.remove(rule)
                            return rule.behaviour
        return Behaviour()

    def cache_lookup(self, api_key: str, prompt: str) -> int:
        """Tokens of `prompt` served from the cache: the longest prefix this key sent before,
        in whole 64-token units. Remembers every unit of this prompt for the next call."""
        unit_chars = CACHE_UNIT_TOKENS * 4  # see estimate_tokens
        running = hashlib.blake2b(api_key.encode() + b"\0", digest_size=16)
        digests = []
        for end in range(unit_chars, len(prompt) + 1, unit_chars):
            running.update(prompt[end - unit_chars:end].encode())
            digests.append(running.copy().digest())
        hit_units = 0
        with self._lock:
            for digest in digests:
                if digest not in self._cache:
                    break
                hit_units += 1
            for digest in digests:
                self._cache[digest] = None
                self._cache.move_to_end(digest)
            while len(self._cache) > self.cache_capacity:
                self._cache.popitem(last=False)
        return hit_units * CACHE_UNIT_TOKENS

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)
            while len(self.requests) > self.max_recorded:
                self.requests.popleft()
            self.counts["total"] += 1
            self.counts[entry["model"] or "?"] += 1
            if entry["model"] and entry["model"] not in self.models:
                self.models.append(entry["model"])


# -- server -----------------------------------------------------------------------------------

class ModelServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a hanging answer must not hold up stop()
    request_queue_size = 256  # benchmarks open dozens of connections at once

    def __init__(self, address: tuple[str, int], state: ModelSandboxState) -> None:
        super().__init__(address, ModelHandler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class BadRequest(ValueError):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ModelHandler(BaseHTTPRequestHandler):
    server: ModelServer
    protocol_version = "HTTP/1.1"
    server_version = "ModelSandbox/1.0"
    # Headers and body go out as separate writes: without this, Nagle plus the client's
    # delayed ACK adds about 40 ms to every answer.
    disable_nagle_algorithm = True

    def handle(self) -> None:
        # Clients give up first during slow or hanging answers.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        logger.debug("%s %s", self.address_string(), format % args)

    @property
    def state(self) -> ModelSandboxState:
        return self.server.state

    # -- routing ---------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/v1/models":
            created = 1_700_000_000
            with self.state._lock:
                names = list(dict.fromkeys([*self.state.models, *DEFAULT_MODELS]))
            self._send_json(200, {"object": "list", "data": [
                {"id": name, "object": "model", "created": created, "owned_by": "sandbox"}
                for name in names]})
        elif path == "/__sandbox__/requests":
            self._send_json(200, {"requests": self.state.requests_for(),
                                  "counts": dict(self.state.counts)})
        elif path == "/__sandbox__/behaviours":
            self._send_json(200, self.state.behaviours())
        else:
            self._error(404, f"Unknown path {path}", "invalid_request_error", "not_found")

    def do_POST(self) -> None:  # noqa: N802 (stdlib name)
        received_at = time.monotonic()
        path = urlsplit(self.path).path.rstrip("/")
        body = self._read_body()
        if body is None:
            return
        if path == "/v1/chat/completions":
            self._chat(body, received_at)
        elif path in ("/v1/images/generations", "/v1/images/edits"):
            self._images(path.rsplit("/", 1)[1], body, received_at)
        elif path.startswith("/__sandbox__/"):
            self._control(path.removeprefix("/__sandbox__/"), body)
        else:
            self._error(404, f"Unknown path {path}", "invalid_request_error", "not_found")

    # -- chat completions ------------------------------------------------------------------

    def _accepted_key(self, request_id: str) -> str | None:
        """The request's API key, or None after answering 401 as DeepSeek does."""
        auth = self.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        if self.state.key_accepted(key):
            return key
        self._record(request_id, "", key, [], 401)
        self._error(401, "Authentication Fails, Your api key is invalid",
                    "authentication_error", "invalid_api_key", request_id=request_id)
        return None

    def _chat(self, body: bytes, received_at: float) -> None:
        request_id = secrets.token_hex(16)
        key = self._accepted_key(request_id)
        if key is None:
            return
        try:
            request = _parse_request(body)
            if _has_image(request["messages"]) and not self.state.supports_images(
                    request["model"]):
                raise BadRequest(f"The model {request['model']} does not support image input.",
                                 "messages")
        except BadRequest as error:
            model = ""
            with contextlib.suppress(Exception):
                model = str(json.loads(body).get("model") or "")
            self._record(request_id, model, key, [], 400)
            self._error(400, str(error), "invalid_request_error", "invalid_request_error",
                        param=error.param, request_id=request_id)
            return

        model, messages = request["model"], request["messages"]
        behaviour = self.state.take_behaviour(model)
        if behaviour.connection_reset:
            self._record(request_id, model, key, messages, None)
            self._hang_up()
            return
        status = int(behaviour.status) if behaviour.status is not None else 200
        self._record(request_id, model, key, messages, status)
        completion = (self._completion(request_id, key, request, behaviour) if status == 200
                      else None)
        # The latency is the time from the request to the answer: writing the answer is
        # part of it, not added on top.
        remaining = behaviour.latency_ms / 1000 - (time.monotonic() - received_at)
        if behaviour.latency_ms and self.state.stopping.wait(max(remaining, 0)):
            self._hang_up()
            return
        if completion is None:
            message, kind, code = STATUSES[status]
            headers = {"Retry-After": str(behaviour.retry_after)} if status == 429 else {}
            self._error(status, message, kind, code, request_id=request_id, headers=headers)
            return

        if behaviour.hang:
            self._hang(request_id, completion, behaviour.hang_seconds)
        elif request["stream"]:
            self._stream(request_id, completion, request)
        else:
            self._send_json(200, completion, {"x-request-id": request_id})

    def _completion(self, request_id: str, key: str, request: dict[str, Any],
                    behaviour: Behaviour) -> dict[str, Any]:
        model, messages = request["model"], request["messages"]
        seed = model_content.seed_for(messages, model)
        prompt = _prompt_text(messages)
        if behaviour.blank:
            content = ""
        else:
            content = model_content.write(
                messages, seed, language=model_content.another_language(messages)
                if behaviour.wrong_language else None)
            if behaviour.invented_facts:
                content = model_content.with_invented_facts(content, messages)
            if behaviour.refusal or behaviour.placeholder:
                content = model_content.with_first_text(
                    content, model_content.REFUSAL if behaviour.refusal
                    else model_content.PLACEHOLDER)
            strict = STRICT_MARKER in prompt.lower()
            if behaviour.banned_words_always or (behaviour.banned_words and not strict):
                content = model_content.with_banned_words(content, seed)
            if behaviour.invalid_json:
                content = content[: max(len(content) * 2 // 3, 1)]  # cut off mid-object
        finish_reason = "stop"
        max_tokens = request["max_tokens"]
        if max_tokens is not None and estimate_tokens(content) > max_tokens:
            content, finish_reason = content[: max_tokens * 4], "length"
        prompt_tokens = estimate_tokens(prompt)
        hit = min(self.state.cache_lookup(key, prompt), prompt_tokens)
        completion_tokens = estimate_tokens(content)
        return {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_sandbox",
            "choices": [{"index": 0, "finish_reason": finish_reason, "logprobs": None,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens,
                      "prompt_cache_hit_tokens": hit,
                      "prompt_cache_miss_tokens": prompt_tokens - hit,
                      "prompt_tokens_details": {"cached_tokens": hit}},
        }

    def _hang(self, request_id: str, completion: dict[str, Any],
              seconds: float | None) -> None:
        """DeepSeek's keep-alive while busy: 200 at once, then a blank line every 0.5 s."""
        self._start_chunked("application/json", request_id)
        deadline = None if seconds is None else time.monotonic() + float(seconds)
        while deadline is None or time.monotonic() < deadline:
            wait = HANG_INTERVAL_SECONDS if deadline is None else min(
                HANG_INTERVAL_SECONDS, max(deadline - time.monotonic(), 0))
            if self.state.stopping.wait(wait):
                self._hang_up()
                return
            if deadline is not None and time.monotonic() >= deadline:
                break
            self._chunk(b"\n")  # raises once the client has gone: handle() ends quietly
        self._chunk(json.dumps(completion, ensure_ascii=False).encode())
        self._end_chunked()

    def _stream(self, request_id: str, completion: dict[str, Any],
                request: dict[str, Any]) -> None:
        self._start_chunked("text/event-stream; charset=utf-8", request_id)
        base = {key: completion[key] for key in ("id", "created", "model", "system_fingerprint")}
        base["object"] = "chat.completion.chunk"
        content = completion["choices"][0]["message"]["content"]
        deltas = [{"role": "assistant", "content": ""}]
        deltas += [{"content": content[start:start + 24]}
                   for start in range(0, len(content), 24)]
        for delta in deltas:
            self._event({**base, "choices": [{"index": 0, "delta": delta,
                                              "finish_reason": None, "logprobs": None}]})
        final = {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                      "finish_reason": completion["choices"][0]["finish_reason"]}]}
        options = request.get("stream_options") or {}
        if options.get("include_usage"):
            self._event(final)
            final = {**base, "choices": [], "usage": completion["usage"]}
        else:
            final["usage"] = None
        self._event(final)
        self._chunk(b"data: [DONE]\n\n")
        self._end_chunked()

    # -- control ---------------------------------------------------------------------------

    def _control(self, name: str, body: bytes) -> None:
        try:
            payload = json.loads(body or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            if name == "reset":
                self.state.reset()
                result: Any = {"ok": True}
            elif name.startswith("models/") and name.endswith("/behaviour"):
                model = unquote(name.removeprefix("models/").removesuffix("/behaviour"))
                if payload.pop("clear", False):
                    self.state.clear_behaviour(model)
                    result = {"ok": True, "model": model, "cleared": True}
                else:
                    count = payload.pop("count", None)
                    behaviour = self.state.set_behaviour(model, count, **payload)
                    result = {"ok": True, "model": model, "count": count,
                              "behaviour": asdict(behaviour)}
            elif name == "api-keys":
                keys = payload.get("keys")
                with self.state._lock:
                    self.state.api_keys = None if keys is None else {str(k) for k in keys}
                result = {"ok": True}
            else:
                self._send_json(404, {"error": f"no control call POST {name}"})
                return
        except (ValueError, TypeError) as error:
            self._send_json(400, {"error": f"bad control call: {error}"})
            return
        self._send_json(200, result)

    # -- plumbing --------------------------------------------------------------------------

    # -- images (OpenAI's images API, as self-hosted Stable Diffusion servers offer it) -----

    def _images(self, kind: str, body: bytes, received_at: float) -> None:
        from sandbox import images as sandbox_images  # Pillow: only for the images API

        request_id = secrets.token_hex(16)
        key = self._accepted_key(request_id)
        if key is None:
            return
        try:
            fields_, source = _parse_images_request(kind, self.headers.get("Content-Type", ""),
                                                    body)
            width, height = (int(part) for part in str(fields_.get("size") or
                                                         "1024x1024").split("x"))
            if not (256 <= width <= 2048 and 256 <= height <= 2048):
                raise BadRequest("size must be WIDTHxHEIGHT within 256..2048", "size")
            prompt, model = str(fields_.get("prompt") or ""), str(fields_.get("model") or "")
            if not prompt or not model:
                raise BadRequest("prompt and model are required", "prompt")
        except (BadRequest, ValueError) as error:
            self._record(request_id, "", key, [], 400)
            self._error(400, str(error), "invalid_request_error", "invalid_request_error",
                        request_id=request_id)
            return
        behaviour = self.state.take_behaviour(model)
        status = int(behaviour.status) if behaviour.status is not None else 200
        self._record(request_id, model, key, [{"role": "user", "content": prompt,
                                               "images_api": kind,
                                               "source_sha256": hashlib.sha256(
                                                   source or b"").hexdigest()}], status)
        if behaviour.connection_reset:
            self._hang_up()
            return
        remaining = behaviour.latency_ms / 1000 - (time.monotonic() - received_at)
        if behaviour.latency_ms and self.state.stopping.wait(max(remaining, 0)):
            self._hang_up()
            return
        if status != 200:
            message, error_kind, code = STATUSES[status]
            self._error(status, message, error_kind, code, request_id=request_id)
            return
        picture = sandbox_images.generated_scene(prompt, width, height, source)
        self._send_json(200, {"created": int(time.time()), "data": [
            {"b64_json": base64.b64encode(picture).decode(), "revised_prompt": prompt}]},
            {"x-request-id": request_id})

    def _record(self, request_id: str, model: str, key: str, messages: list[Any],
                status: int | None) -> None:
        self.state.record({
            "at": datetime.now(UTC).isoformat(), "request_id": request_id, "model": model,
            "api_key_suffix": key[-4:], "messages": messages, "status": status})

    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self._error(413, "Request body too large or without Content-Length",
                        "invalid_request_error", "request_too_large")
            return None
        return self.rfile.read(length)

    def _error(self, status: int, message: str, kind: str, code: str, *,
               param: str | None = None, request_id: str | None = None,
               headers: dict[str, str] | None = None) -> None:
        extra = {"x-request-id": request_id or secrets.token_hex(16), **(headers or {})}
        self._send_json(status, {"error": {"message": message, "type": kind, "param": param,
                                           "code": code}}, extra)

    def _send_json(self, status: int, payload: Any,
                   headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _start_chunked(self, content_type: str, request_id: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-request-id", request_id)
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, payload: dict[str, Any]) -> None:
        self._chunk(b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n")

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client may have gone already
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)


# -- request parsing --------------------------------------------------------------------------

def _parse_images_request(kind: str, content_type: str, body: bytes
                          ) -> tuple[dict[str, Any], bytes | None]:
    """generations: a JSON body; edits: multipart/form-data with the `image` file."""
    if kind == "generations":
        try:
            payload = json.loads(body or b"{}")
        except ValueError as error:
            raise BadRequest("the body must be JSON") from error
        if not isinstance(payload, dict):
            raise BadRequest("the body must be a JSON object")
        return payload, None
    if not content_type.startswith("multipart/form-data"):
        raise BadRequest("edits take multipart/form-data", "image")
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    form: dict[str, Any] = {}
    image: bytes | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name in ("image", "image[]"):
            image = image or payload
        elif name:
            form[name] = payload.decode("utf-8", "replace")
    if not image:
        raise BadRequest("an image file is required", "image")
    return form, image


def _parse_request(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise BadRequest(f"The request body is not valid JSON: {error}") from error
    if not isinstance(payload, dict):
        raise BadRequest("The request body must be a JSON object.")
    model = payload.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("Missing required parameter: 'model'.", "model")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array.", "messages")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise BadRequest(f"{where}: a message needs a role, one of {sorted(_ROLES)}.", where)
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                _check_part(part, where)
        elif not isinstance(content, str) and not (content is None
                                                   and message["role"] == "assistant"):
            raise BadRequest(f"{where}.content must be a string or an array of parts.", where)
    response_format = payload.get("response_format")
    if response_format is not None and (not isinstance(response_format, dict) or
                                        response_format.get("type") not in ("text",
                                                                             "json_object")):
        raise BadRequest("response_format.type must be 'text' or 'json_object'.",
                         "response_format")
    temperature = payload.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float)
                                    or isinstance(temperature, bool)
                                    or not 0 <= temperature <= 2):
        raise BadRequest("temperature must be a number between 0 and 2.", "temperature")
    max_tokens = payload.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                   or max_tokens < 1):
        raise BadRequest("max_tokens must be a positive integer.", "max_tokens")
    stream_options = payload.get("stream_options")
    return {"model": model, "messages": messages, "max_tokens": max_tokens,
            "stream": bool(payload.get("stream")),
            "stream_options": stream_options if isinstance(stream_options, dict) else None}


def _check_part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise BadRequest(f"{where}.content: each part must be an object.", where)
    if part.get("type") == "text" and isinstance(part.get("text"), str):
        return
    image = part.get("image_url")
    if part.get("type") == "image_url" and isinstance(image, dict) \
            and isinstance(image.get("url"), str) and image["url"]:
        return
    raise BadRequest(f"{where}.content: unsupported or malformed part {part.get('type')!r}.",
                     where)


def _has_image(messages: list[dict[str, Any]]) -> bool:
    return any(isinstance(part, dict) and part.get("type") == "image_url"
               for message in messages if isinstance(message.get("content"), list)
               for part in message["content"])


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    """The prompt as the cache and the token count see it: the messages in order. An image
    counts as its URL's digest (a real tokenizer charges a fixed amount per image)."""
    pieces = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            text = "".join(
                part.get("text", "") if part.get("type") == "text"
                else "<image:" + hashlib.sha256(part["image_url"]["url"].encode()).hexdigest()
                + ">" for part in content)
        else:
            text = content or ""
        pieces.append(f"<|{message['role']}|>{text}")
    return "".join(pieces)


# -- running it -------------------------------------------------------------------------------

@dataclass
class RunningModelSandbox:
    server: ModelServer
    state: ModelSandboxState
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as `base_url`."""
        return self.url + "/v1"

    def stop(self) -> None:
        self.state.stopping.set()  # wakes slow and hanging answers, which then hang up
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_sandbox(host: str = "127.0.0.1", port: int = 0,
                  state: ModelSandboxState | None = None) -> RunningModelSandbox:
    """Serve on a background thread; port 0 picks a free one (see `.url`)."""
    state = state or ModelSandboxState()
    server = ModelServer((host, port), state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="model-sandbox", daemon=True)
    thread.start()
    return RunningModelSandbox(server, state, thread)
