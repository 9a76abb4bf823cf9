"""A local HTTP stand-in for the few Stripe API endpoints the platform calls, so tests run the
real `stripe` library over real HTTP (STRIPE_API_BASE points here).

It answers POST /v1/customers, /v1/subscriptions, GET and DELETE (cancel)
/v1/subscriptions/<id>, POST and GET /v1/invoiceitems, and the Billing Meter as Stripe's
v1 API documents it: POST /v1/billing/meter_events (an `identifier` is de-duplicated over a
rolling 24 hours, a timestamp more than 35 days old or more than 5 minutes ahead is refused)
and GET /v1/billing/meters/<id>/event_summaries (`customer`, `start_time`, `end_time`
required and minute-aligned, optional `value_grouping_window` hour/day with hour-aligned or
UTC-day-aligned bounds; sum aggregation of the payload's `value` over events whose timestamp
is in [start_time, end_time); `limit`, `starting_after`, `has_more`). Its clock is
django.utils.timezone.now(), so a test's clock moves Stripe's too. It honours
Idempotency-Key (for 24 hours, as Stripe), records every request, and can be told to fail:
with HTTP 500, with a timeout, or by accepting a request and then answering 500 (the
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

from django.utils import timezone

DAY = 86400
METER_ID = "mtr_test_overage"


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
    meter_events: list[dict] = field(default_factory=list)  # accepted (de-duplicated) events
    meters: dict[str, dict] = field(default_factory=lambda: {METER_ID: {
        "id": METER_ID, "object": "billing.meter", "event_name": "ai_calls_overage",
        "default_aggregation": {"formula": "sum"},
        "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
        "value_settings": {"event_payload_key": "value"}}})
    invoice_items: list[dict] = field(default_factory=list)
    failure: str = ""  # "", "500", "timeout", "lose_response"
    failures_left: int = 0  # how many requests fail; -1: all
    succeed_first: int = 0  # let this many requests through before failing
    hang_seconds: float = 2.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _idempotent: dict[str, tuple[float, int, dict]] = field(default_factory=dict)

    @staticmethod
    def now() -> float:
        return timezone.now().timestamp()

    def meter_identifiers(self) -> list[str]:
        return [event["identifier"] for event in self.meter_events]

    def meter_total(self, customer: str | None = None) -> int:
        return sum(int(e["payload"]["value"]) for e in self.meter_events
                   if customer is None or e["payload"]["stripe_customer_id"] == customer)

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
            kept = self._idempotent.get(key) if key else None
            if kept and kept[0] > self.now() - DAY:  # Stripe keeps keys for 24 hours
                status, body = kept[1], kept[2]
            else:
                status, body = self._route(method, path, params)
                if key and method == "POST":
                    self._idempotent[key] = (self.now(), status, body)
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
            return self._meter_event(params, number)
        if method == "GET" and path.startswith("/v1/billing/meters/") \
                and path.endswith("/event_summaries"):
            return self._summaries(path.split("/")[4], params)
        if method == "POST" and path == "/v1/invoiceitems":
            if params.get("customer") not in self.customers:
                return _invalid("No such customer.", "customer")
            if "amount" not in params or params.get("currency") not in ("cny",):
                return _invalid("Missing amount or currency.", "amount")
            item = {"id": f"ii_{number}", "object": "invoiceitem",
                    "customer": params["customer"], "amount": int(params["amount"]),
                    "currency": params["currency"],
                    "description": params.get("description"),
                    "subscription": params.get("subscription"),
                    "metadata": _nested(params, "metadata"), "date": int(self.now())}
            self.invoice_items.append(item)
            return 200, item
        if method == "GET" and path == "/v1/invoiceitems":
            items = [i for i in reversed(self.invoice_items)
                     if not params.get("customer") or i["customer"] == params["customer"]]
            return _page(items, params, path)
        return 404, {"error": {"type": "invalid_request_error", "message": "Unknown path."}}


    def _meter_event(self, params: dict[str, str], number: int) -> tuple[int, dict]:
        now = self.now()
        payload = _nested(params, "payload")
        if payload.get("stripe_customer_id") not in self.customers:
            return _invalid("No such customer.", "payload[stripe_customer_id]")
        try:
            timestamp = int(params.get("timestamp", now))
            value = int(payload.get("value", ""))
        except ValueError:
            return _invalid("Timestamp and value must be integers.", "payload[value]")
        if timestamp < now - 35 * DAY:
            return _invalid("Timestamp must be within the past 35 days.", "timestamp")
        if timestamp > now + 300:
            return _invalid("Timestamp must not be more than 5 minutes in the future.",
                            "timestamp")
        identifier = params.get("identifier") or f"gen_{number}"
        event = {"object": "billing.meter_event", "event_name": params.get("event_name"),
                 "identifier": identifier, "payload": payload, "timestamp": timestamp,
                 "created": int(now), "livemode": False, "value": value}
        # Stripe de-duplicates an identifier over a rolling 24 hours, and no longer after.
        if not any(e["identifier"] == identifier and e["created"] > now - DAY
                   for e in self.meter_events):
            self.meter_events.append(event)
        return 200, {k: v for k, v in event.items() if k != "value"}

    def _summaries(self, meter_id: str, params: dict[str, str]) -> tuple[int, dict]:
        meter = self.meters.get(meter_id)
        if meter is None:
            return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                   "message": f"No such billing meter: '{meter_id}'"}}
        for name in ("customer", "start_time", "end_time"):
            if not params.get(name):
                return _invalid(f"Missing required param: {name}.", name)
        start, end = int(params["start_time"]), int(params["end_time"])
        window = params.get("value_grouping_window", "")
        step = {"": end - start, "hour": 3600, "day": DAY}.get(window)
        if step is None:
            return _invalid("Invalid value_grouping_window.", "value_grouping_window")
        if start % 60 or end % 60:
            return _invalid("start_time and end_time must be aligned with minute "
                            "boundaries.", "start_time")
        if window and (start % step or end % step):
            return _invalid(f"start_time and end_time must be aligned with {window} "
                            "boundaries.", "start_time")
        if end <= start:
            return _invalid("end_time must be after start_time.", "end_time")
        events = [e for e in self.meter_events if e["event_name"] == meter["event_name"]
                  and e["payload"]["stripe_customer_id"] == params["customer"]]
        summaries = []
        for window_start in range(start, end, step):
            window_end = min(window_start + step, end)
            summaries.append({
                "id": f"mtrsum_{meter_id}_{window_start}", "object": "billing.meter_event_summary",
                "aggregated_value": float(sum(e["value"] for e in events
                                              if window_start <= e["timestamp"] < window_end)),
                "start_time": window_start, "end_time": window_end, "livemode": False,
                "meter": meter_id})
        return _page(summaries, params, f"/v1/billing/meters/{meter_id}/event_summaries")


def _invalid(message: str, param: str) -> tuple[int, dict]:
    return 400, {"error": {"type": "invalid_request_error", "message": message,
                           "param": param}}


def _page(rows: list[dict], params: dict[str, str], url: str) -> tuple[int, dict]:
    """Stripe's list envelope with `limit` (1-100, default 10) and `starting_after`."""
    limit = min(max(int(params.get("limit", 10)), 1), 100)
    after = params.get("starting_after")
    if after:
        ids = [row["id"] for row in rows]
        rows = rows[ids.index(after) + 1:] if after in ids else []
    return 200, {"object": "list", "data": rows[:limit], "has_more": len(rows) > limit,
                 "url": url}


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
