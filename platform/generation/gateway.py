"""Calling the model nodes: every request goes through the official `openai` library, with a
hard overall deadline, structured JSON output, retries of blank or invalid answers, and a
switch to the next node (the backup) when a node times out, cannot be reached, says 429 or
5xx, or refuses the key or the bill. Every attempt is logged with its cost.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx2
import openai
from django.conf import settings
from django.db import connection
from django.utils import timezone
from openai.types.chat import ChatCompletion

from generation import nodes
from generation.content import InvalidContent, parse_content
from generation.models import GenerationItem, ModelNode, ModelRequestLog

MILLION = Decimal(1_000_000)
COST_PLACES = Decimal("0.000001")
CONNECT_TIMEOUT_SECONDS = 5.0


class DeadlineExceeded(Exception):
    """The whole request took longer than the node's deadline (however it was kept alive)."""


class ModelCallFailed(Exception):
    """No node produced valid content. `code` is from portal.error_codes; `attempts` is the
    number of the item's last logged request (0 when none was sent)."""

    def __init__(self, code: str, message: str, attempts: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.attempts = attempts


@dataclass
class Answer:
    """What one successful request returned."""

    content: dict[str, Any]
    node: ModelNode
    attempts: int


@dataclass
class _Outcome:
    """One HTTP request to one node, as the log records it."""

    started_at: Any
    latency_ms: int = 0
    raw: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hit_tokens: int = 0
    http_status: int | None = None
    request_id: str = ""
    error_code: str = ""
    error_message: str = ""
    extra: dict = field(default_factory=dict)


# The client --------------------------------------------------------------------------------

_clients: dict[tuple, openai.OpenAI] = {}
_clients_lock = threading.Lock()


def client_for(node: ModelNode) -> openai.OpenAI:
    """One client per node and process (keeps connections alive); rebuilt when staff edit
    the node. The library's own retries are off: failover is decided here."""
    key = (node.pk, node.base_url, node.api_key, str(node.request_deadline_seconds))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            deadline = float(node.request_deadline_seconds)
            client = openai.OpenAI(
                base_url=node.base_url, api_key=node.api_key or "none", max_retries=0,
                timeout=httpx2.Timeout(deadline, connect=min(CONNECT_TIMEOUT_SECONDS, deadline)),
                http_client=httpx2.Client(limits=httpx2.Limits(
                    max_connections=max(node.max_concurrency, 1) * 2,
                    max_keepalive_connections=max(node.max_concurrency, 1))))
            _clients[key] = client
        return client


def _read_with_deadline(response: Any, deadline_at: float) -> bytes:
    """Read the body, giving up at the deadline: a server that keeps the connection alive
    with blank lines never trips a read timeout, so a timer closes the response instead."""
    remaining = deadline_at - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceeded
    timer = threading.Timer(remaining, response.close)
    timer.daemon = True
    timer.start()
    body = bytearray()
    try:
        for chunk in response.iter_bytes():
            body += chunk
            if time.monotonic() >= deadline_at:
                raise DeadlineExceeded
    except DeadlineExceeded:
        raise
    except Exception as error:  # the timer closed the stream under us
        if time.monotonic() >= deadline_at:
            raise DeadlineExceeded from error
        raise
    finally:
        timer.cancel()
    return bytes(body)


def _request(node: ModelNode, messages: list[dict], outcome: _Outcome) -> None:
    """One request; fills `outcome`. Raises the openai library's errors or DeadlineExceeded."""
    deadline_at = time.monotonic() + float(node.request_deadline_seconds)
    completions = client_for(node).chat.completions.with_streaming_response
    with completions.create(model=node.model_name, messages=messages, temperature=0.7,
                            response_format={"type": "json_object"}) as response:
        outcome.http_status = response.http_response.status_code
        outcome.request_id = response.headers.get("x-request-id", "")
        body = _read_with_deadline(response, deadline_at)
    completion = ChatCompletion.model_validate_json(body)
    outcome.request_id = outcome.request_id or completion.id
    usage = completion.usage
    if usage is not None:
        outcome.prompt_tokens = usage.prompt_tokens
        outcome.completion_tokens = usage.completion_tokens
        details = usage.prompt_tokens_details
        hit = getattr(usage, "prompt_cache_hit_tokens", None)  # DeepSeek's name
        if hit is None and details is not None:
            hit = details.cached_tokens
        outcome.cache_hit_tokens = int(hit or 0)
    outcome.raw = completion.choices[0].message.content if completion.choices else None


def _send(node: ModelNode, messages: list[dict], outcome: _Outcome) -> None:
    """`_request`, with a failure classified into `outcome` (code, message, HTTP status)."""
    try:
        _request(node, messages, outcome)
    except Exception as error:  # noqa: BLE001 (every failure is classified and logged)
        outcome.error_code, outcome.error_message, status = _classify(error)
        outcome.http_status = status or outcome.http_status


# Errors and their codes --------------------------------------------------------------------

def _classify(error: Exception) -> tuple[str, str, int | None]:
    """(error code, message, HTTP status) of a failed request."""
    if isinstance(error, DeadlineExceeded | openai.APITimeoutError):
        return "ERR_MODEL_TIMEOUT", "The node did not answer within its deadline.", None
    if isinstance(error, openai.APIConnectionError):
        return "ERR_MODEL_UNAVAILABLE", f"Connection failed: {error}", None
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        codes = {402: "ERR_MODEL_PAYMENT_REQUIRED", 429: "ERR_MODEL_RATE_LIMITED",
                 401: "ERR_MODEL_AUTH", 403: "ERR_MODEL_AUTH"}
        code = codes.get(status) or ("ERR_MODEL_UNAVAILABLE" if status >= 500
                                     else "ERR_MODEL_BAD_REQUEST")
        return code, f"HTTP {status}: {error.message}"[:1000], status
    if isinstance(error, ValueError):  # the body was not a chat completion
        return "ERR_MODEL_INVALID_OUTPUT", f"Not a chat completion: {error}"[:1000], None
    return "ERR_MODEL_UNAVAILABLE", f"{type(error).__name__}: {error}"[:1000], None


def cost_of(node: ModelNode, outcome: _Outcome) -> Decimal:
    hit = outcome.cache_hit_tokens
    miss = max(outcome.prompt_tokens - hit, 0)
    total = (hit * node.price_cache_hit + miss * node.price_cache_miss
             + outcome.completion_tokens * node.price_output) / MILLION
    return total.quantize(COST_PLACES)


def _log(item: GenerationItem, node: ModelNode, attempt: int, purpose: str,
         outcome: _Outcome) -> None:
    ModelRequestLog.unscoped.create(
        tenant_id=item.tenant_id, store_id=item.store_id, job_id=item.job_id, item=item,
        node=node, node_name=node.name, attempt=attempt, purpose=purpose,
        started_at=outcome.started_at, latency_ms=outcome.latency_ms,
        prompt_tokens=outcome.prompt_tokens, completion_tokens=outcome.completion_tokens,
        cache_hit_tokens=outcome.cache_hit_tokens, cost=cost_of(node, outcome),
        error_code=outcome.error_code, error_message=outcome.error_message,
        http_status=outcome.http_status, provider_request_id=outcome.request_id[:120])


# The call ----------------------------------------------------------------------------------

def _release_database_connection() -> None:
    """Give this thread's database connection back to the pool while it waits for a node
    slot and the model's answer (seconds, against milliseconds of database work): a worker
    process then needs as many connections as threads at their database work, not as threads
    (DATABASE_POOL_MAX_SIZE). Not inside a transaction, and not without a pool, where it would
    only be reopened."""
    if connection.pool is not None and connection.connection is not None \
            and not connection.in_atomic_block:
        connection.close()


def generate(item: GenerationItem, messages: list[dict], *, vision: bool,
             purpose: str = ModelRequestLog.Purpose.GENERATE, first_attempt: int = 1) -> Answer:
    """Ask the nodes in order until one answers with valid content for the item's kind.

    A node that fails (timeout, connection, 429, 5xx, 401/402) is recorded in its breaker and
    the next node is tried; blank or invalid JSON is retried on the same node a few times.
    Raises ModelCallFailed with the last error's code when no node succeeds.
    """
    attempt = first_attempt - 1
    last_code, last_message = "ERR_NO_MODEL_NODE", "No enabled model node can do this work."
    for node in nodes.candidates(vision=vision):
        invalid_answers = 0
        while nodes.may_try(node):
            attempt += 1
            outcome = _Outcome(started_at=timezone.now())
            _release_database_connection()
            try:
                with nodes.slot(node, wait_seconds=settings.GENERATION_SLOT_WAIT_SECONDS) as held:
                    began = time.monotonic()
                    _send(node, messages, outcome)
                    # Answered, even unusably: the node works (its breaker is cleared).
                    held.answered = outcome.error_code in ("", "ERR_MODEL_INVALID_OUTPUT")
            except nodes.NoFreeSlot:
                attempt -= 1  # nothing was sent: not an attempt, not the node's fault
                last_code, last_message = "ERR_MODEL_TIMEOUT", f"{node.name} stayed busy."
                break
            outcome.latency_ms = int((time.monotonic() - began) * 1000)
            content = None
            if not outcome.error_code:
                try:
                    content = parse_content(item.kind, outcome.raw)
                except InvalidContent as error:
                    outcome.error_code = "ERR_MODEL_INVALID_OUTPUT"
                    outcome.error_message = str(error)[:1000]
            _log(item, node, attempt, purpose, outcome)
            if content is not None:
                return Answer(content=content, node=node, attempts=attempt)
            last_code, last_message = outcome.error_code, outcome.error_message
            if outcome.error_code == "ERR_MODEL_INVALID_OUTPUT":
                # The node works; its answer was unusable. Ask again, then move on.
                invalid_answers += 1
                if invalid_answers > settings.GENERATION_INVALID_OUTPUT_RETRIES:
                    break
                continue
            if outcome.error_code != "ERR_MODEL_BAD_REQUEST":  # our request, not the node
                nodes.record_failure(node)
            break
    raise ModelCallFailed(last_code, last_message, attempt)


# Staff tests -------------------------------------------------------------------------------

@dataclass
class Preview:
    """What one staff test request returned: the content or the error, never logged as a
    tenant's usage and never counted against the node's breaker."""

    node: ModelNode | None
    content: dict[str, Any] | None = None
    raw: str | None = None
    error_code: str = ""
    error_message: str = ""
    latency_ms: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hit_tokens: int = 0
    cost: Decimal = Decimal("0")

    @property
    def cost_per_thousand(self) -> Decimal:
        """A single request costs fractions of a fen: shown for 1,000 of them."""
        return self.cost * 1000


def preview(node: ModelNode | None, messages: list[dict], *, kind: str | None,
            vision: bool = False) -> Preview:
    """One request to `node`, or to the first enabled node able to do the work, outside any
    job. With `kind` the answer is validated as that content kind; without it any JSON object
    passes (a node's health test)."""
    if node is None:
        found = nodes.candidates(vision=vision)
        if not found:
            return Preview(None, error_code="ERR_NO_MODEL_NODE",
                           error_message="No enabled model node can do this work.")
        node = found[0]
    outcome = _Outcome(started_at=timezone.now())
    began = time.monotonic()
    try:
        with nodes.slot(node, wait_seconds=min(5.0, settings.GENERATION_SLOT_WAIT_SECONDS)):
            began = time.monotonic()
            _send(node, messages, outcome)
    except nodes.NoFreeSlot:
        outcome.error_code, outcome.error_message = "ERR_MODEL_TIMEOUT", f"{node.name} is busy."
    result = Preview(node, raw=outcome.raw, latency_ms=int((time.monotonic() - began) * 1000),
                     prompt_tokens=outcome.prompt_tokens,
                     completion_tokens=outcome.completion_tokens,
                     cache_hit_tokens=outcome.cache_hit_tokens, cost=cost_of(node, outcome),
                     error_code=outcome.error_code, error_message=outcome.error_message)
    if result.error_code:
        return result
    try:
        if kind:
            result.content = parse_content(kind, outcome.raw)
        else:
            parsed = json.loads(outcome.raw or "")
            if not isinstance(parsed, dict):
                raise InvalidContent("The answer is not a JSON object.")
            result.content = parsed
    except (InvalidContent, ValueError) as error:
        result.error_code = "ERR_MODEL_INVALID_OUTPUT"
        result.error_message = str(error)[:1000]
    return result
