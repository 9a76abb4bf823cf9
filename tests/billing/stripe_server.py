"""A local HTTP stand-in for the few Stripe API endpoints the platform calls, so tests run the
real `stripe` library over real HTTP (STRIPE_API_BASE points here).

It answers POST /v1/customers, /v1/subscriptions and /v1/billing/meter_events (deduplicating
meter events by `identifier`, as Stripe does) and GET and DELETE (cancel)
/v1/subscriptions/<id>, honours Idempotency-Key, records every request, and can be told to
fail: with HTTP 500, with a timeout, or by accepting a request and then answering 500 (the
response is lost, the effect is not).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class StripeStandIn:
    server: ThreadingHTTPServer | None = None
    requests: list[Recorded] = field(default_factory=list)
    customers: dict[str, dict] = field(default_factory=dict)
    subscriptions: dict[str, dict] = field(default_factory=dict)
    meter_events: dict[str, dict] = field(default_factory=dict)  # by identifier: deduplicated
    failure: str = ""  # "", "500", "timeout", "lose_response"
    failures_left: int = 0  # how many requests fail; -1: all
    succeed_first: int = 0  # let this many requests through before failing
    hang_seconds: float = 2.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _idempotent: dict[str, tuple[int, dict]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(self, how: str, times: int = -1, after: int = 0) -> None:
        with self.lock:
            self.failure, self.failures_left, self.succeed_first = how, times, after

    def heal(self) -> None:
        self.fail("", 0)

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    # The handler calls this for every request.
    def answer(self, method: str, path: str, params: dict[str, str], headers: dict[str, str]
               ) -> tuple[int, dict] | None:
        with self.lock:
            self.requests.append(Recorded(method, path, params, headers))
            failure = ""
            if self.failure and self.failures_left != 0:
                if self.succeed_first > 0:
                    self.succeed_first -= 1
                else:
                    failure = self.failure
                    if self.failures_left > 0:
                        self.failures_left -= 1
        if failure == "timeout":
            time.sleep(self.hang_seconds)
            return None
        if failure == "500":
            return 500, {"error": {"type": "api_error", "message": "Stand-in outage."}}
        key = headers.get("idempotency-key")
        with self.lock:
            if key and key in self._idempotent:
                status, body = self._idempotent[key]
            else:
                status, body = self._route(method, path, params)
                if key:
                    self._idempotent[key] = (status, body)
        if failure == "lose_response":
            return 500, {"error": {"type": "api_error", "message": "Lost after accepting."}}
        return status, body

    def _route(self, method: str, path: str, params: dict[str, str]) -> tuple[int, dict]:
        number = next(self._ids)
        if method == "POST" and path == "/v1/customers":
            customer = {"id": f"cus_{number}", "object": "customer",
                        "name": params.get("name", ""),
                        "metadata": _nested(params, "metadata")}
            self.customers[customer["id"]] = customer
            return 200, customer
        if method == "POST" and path == "/v1/subscriptions":
            if params.get("customer") not in self.customers:
                return 400, {"error": {"type": "invalid_request_error",
                                       "message": "No such customer."}}
            subscription = {
                "id": f"sub_{number}", "object": "subscription", "status": "active",
                "customer": params["customer"], "metadata": _nested(params, "metadata"),
                "cancel_at": int(params["cancel_at"]) if "cancel_at" in params else None,
                "items": {"object": "list", "data": [
                    {"id": f"si_{number}", "object": "subscription_item",
                     "price": {"id": params.get("items[0][price]"), "object": "price"},
                     "quantity": int(params.get("items[0][quantity]", "1"))}]}}
            self.subscriptions[subscription["id"]] = subscription
            return 200, subscription
        if path.startswith("/v1/subscriptions/") and method in ("GET", "DELETE"):
            subscription = self.subscriptions.get(path.rsplit("/", 1)[1])
            if subscription is None:
                return 404, {"error": {"type": "invalid_request_error",
                                       "code": "resource_missing",
                                       "message": "No such subscription."}}
            if method == "GET":
                return 200, subscription
            if subscription["status"] == "canceled":  # as Stripe: cancelling twice is refused
                return 400, {"error": {"type": "invalid_request_error",
                                       "message": "A canceled subscription can only update "
                                                  "its cancellation_details and metadata."}}
            subscription.update(status="canceled", canceled_at=int(time.time()),
                                ended_at=int(time.time()),
                                invoice_now=params.get("invoice_now") == "true")
            return 200, subscription
        if method == "POST" and path == "/v1/billing/meter_events":
            payload = _nested(params, "payload")
            if payload.get("stripe_customer_id") not in self.customers:
                return 400, {"error": {"type": "invalid_request_error",
                                       "message": "No such customer."}}
            identifier = params.get("identifier") or f"gen_{number}"
            event = {"object": "billing.meter_event", "event_name": params.get("event_name"),
                     "identifier": identifier, "payload": payload,
                     "timestamp": int(params.get("timestamp", time.time())),
                     "created": int(time.time()), "livemode": False}
            self.meter_events.setdefault(identifier, event)
            return 200, event
        return 404, {"error": {"type": "invalid_request_error", "message": "Unknown path."}}


def _nested(params: dict[str, str], name: str) -> dict[str, str]:
    prefix = f"{name}["
    return {key[len(prefix):-1]: value for key, value in params.items()
            if key.startswith(prefix) and key.endswith("]")}


def start() -> StripeStandIn:
    state = StripeStandIn()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            path, _, query = self.path.partition("?")
            params = dict(parse_qsl(body or query, keep_blank_values=True))
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = state.answer(self.command, path, params, headers)
            if answer is None:
                return  # timed out: the client gave up already
            status, payload = answer
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{time.monotonic_ns()}")
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_DELETE = _handle

        def log_message(self, *args) -> None:
            pass

    state.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.server.daemon_threads = True
    threading.Thread(target=state.server.serve_forever, daemon=True).start()
    return state
