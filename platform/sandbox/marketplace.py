"""The marketplace sandbox: a real HTTP server that speaks Temu's and AliExpress's gateway
protocols, so the platform's connectors talk to it exactly as they would to the real hosts.

    POST /openapi/router            Temu open-platform router (JSON)
    POST /sync                      AliExpress IOP (form), `method` names the API
    POST /rest/auth/token/create    AliExpress IOP token creation (form)
    GET  /seller-center/            demo shops; a click issues a 7-day single-use code
    GET  /img/<shop>/<goods>-<n>.jpg|png  real image bytes of the announced size (ETag)
    /__sandbox__/...                JSON control for the demo (tests use `state` directly)

Standard library and Pillow (image bytes) only: it needs no Django, and `start_sandbox()`
runs it on a thread.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import re
import socket
import threading
from dataclasses import asdict, dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox import aliexpress, pool, temu, traffic
from sandbox import images as sandbox_images
from sandbox import state as st
from sandbox.shops import SHOPS

logger = logging.getLogger(__name__)

TEMU_PATH = "/openapi/router"
ALIEXPRESS_PATH = "/sync"
MAX_BODY_BYTES = 2_000_000
_TRANSPORT_FAILURES = {st.HTML, st.MALFORMED_JSON, st.TRUNCATED, st.SERVER_ERROR,
                       st.CONNECTION_RESET}
_IMAGE_PATH = re.compile(r"^/img/(?P<shop>\d+)/(?P<goods>\d+)-(?P<n>\d+)\.(?:jpg|png)$")


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a deliberately slow answer must not hold up stop()

    def __init__(self, address: tuple[str, int], state: st.SandboxState) -> None:
        super().__init__(address, SandboxHandler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class SandboxHandler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the real gateways
    server_version = "MarketplaceSandbox/1.0"

    def handle(self) -> None:
        # The client may give up first (its timeout during a deliberately slow answer).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        logger.debug("%s %s", self.address_string(), format % args)

    @property
    def state(self) -> st.SandboxState:
        return self.server.state

    # -- routing ---------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        path = urlsplit(self.path).path
        if path in ("/", "/seller-center", "/seller-center/"):
            self._send(200, seller_center_page(self.state).encode(), "text/html; charset=utf-8")
        elif path.startswith("/__sandbox__/"):
            self._control("GET", path.removeprefix("/__sandbox__/"), {})
        elif match := _IMAGE_PATH.match(path):
            self._image(path, match["shop"], int(match["goods"]), int(match["n"]))
        else:
            self._send_json(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802 (stdlib name)
        path = urlsplit(self.path).path
        body = self._read_body()
        if body is None:
            return
        if path == TEMU_PATH:
            self._gateway("temu", lambda forced: temu.handle(
                self.state, body, self.client_address[0], forced, self.server.url))
        elif path == ALIEXPRESS_PATH or path.startswith("/rest/"):
            api_path = "" if path == ALIEXPRESS_PATH else path.removeprefix("/rest")
            self._gateway("aliexpress", lambda forced: aliexpress.handle(
                self.state, api_path, body, self.client_address[0], forced, self.server.url))
        elif path == "/seller-center/authorize":
            form = parse_qs(body.decode("utf-8", "replace"))
            shop_id = form.get("shop_id", [""])[0]
            if shop_id not in SHOPS:
                self._send(404, b"unknown shop", "text/plain")
                return
            code = self.state.issue_code(shop_id)
            page = seller_center_page(self.state, issued=(shop_id, code))
            self._send(200, page.encode(), "text/html; charset=utf-8")
        elif path.startswith("/__sandbox__/"):
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                self._send_json(400, {"error": "the body must be a JSON object"})
                return
            self._control("POST", path.removeprefix("/__sandbox__/"), payload)
        else:
            self._send_json(404, {"error": "not found"})

    # -- the gateways ----------------------------------------------------------------------

    def _gateway(self, marketplace: str, answer: Any) -> None:
        forced = self.state.take_failure(marketplace)
        if forced in _TRANSPORT_FAILURES:
            self._misbehave(forced)
            return
        if forced == st.SLOW:
            self.state.stopping.wait(self.state.slow_seconds)
        self._send_json(200, answer(forced))

    def _misbehave(self, kind: str) -> None:
        if kind == st.HTML:
            self._send(200, _ERROR_PAGE, "text/html")
        elif kind == st.SERVER_ERROR:
            self._send(502, _ERROR_PAGE, "text/html")
        elif kind == st.MALFORMED_JSON:
            self._send(200, b'{"success": true, "result": {"goodsList": [{"goodsId": 1,,]',
                       "application/json")
        elif kind == st.TRUNCATED:
            body = json.dumps({"success": True, "result": {"total": 1, "goodsList": []}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) + 512))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self._hang_up()
        elif kind == st.CONNECTION_RESET:
            self._hang_up()

    def _hang_up(self) -> None:
        self.close_connection = True
        self.wfile.flush()
        with contextlib.suppress(OSError):  # the client may have gone already
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- control ---------------------------------------------------------------------------

    def _control(self, method: str, name: str, payload: dict[str, Any]) -> None:
        state = self.state
        try:
            if method == "GET" and name == "shops":
                result: Any = [{**asdict(shop), "currency": shop.currency}
                               for shop in SHOPS.values()]
            elif method == "GET" and name == "updates":
                result = state.updates
            elif method == "GET" and name == "requests":
                result = state.requests
            elif method == "POST" and name == "codes":
                days = float(payload.get("valid_for_days", 7))
                result = {"code": state.issue_code(str(payload["shop_id"]),
                                                   timedelta(days=days))}
            elif method == "POST" and name == "tokens":
                token = state.issue_token(str(payload["shop_id"]))
                result = {"access_token": token.token, "expires_at": token.expires_at.isoformat()}
            elif method == "POST" and name == "fail":
                state.fail_next(str(payload["kind"]), int(payload.get("count", 1)),
                                payload.get("marketplace"))
                result = {"ok": True}
            elif method == "POST" and name == "expire-tokens":
                result = {"expired": state.expire_tokens(payload.get("shop_id"),
                                                         payload.get("token"))}
            elif method == "POST" and name == "ip-whitelist":
                state.set_ip_whitelist(str(payload["shop_id"]), list(payload["ips"]))
                result = {"ok": True}
            elif method == "POST" and name == "scopes":
                state.set_scopes(str(payload["shop_id"]), list(payload["scopes"]))
                result = {"ok": True}
            elif method == "POST" and name == "reset":
                state.reset()
                result = {"ok": True}
            elif (answer := traffic.control(state.updates, method, name, payload)) is not None:
                result = answer  # the listing-traffic clock and truth (sandbox.traffic)
            else:
                self._send_json(404, {"error": f"no control call {method} {name}"})
                return
        except (KeyError, ValueError, TypeError) as error:
            self._send_json(400, {"error": f"bad control call: {error!r}"})
            return
        self._send_json(200, result)

    # -- plumbing --------------------------------------------------------------------------

    def _image(self, path: str, shop_id: str, goods_id: int, number: int) -> None:
        shop = SHOPS.get(shop_id)
        index = pool.index_for(shop_id, goods_id) if shop else None
        if shop is None or index is None or index >= shop.sku_count:
            self._send_json(404, {"error": "no such image"})
            return
        images = pool.product(shop_id, shop.seed, index).images
        if not 1 <= number <= len(images):
            self._send_json(404, {"error": "no such image"})
            return
        image = images[number - 1]
        if not path.endswith(image.path):
            self._send_json(404, {"error": "no such image"})
            return
        data = sandbox_images.render(pool.product(shop_id, shop.seed, index), number)
        tag = sandbox_images.etag(data)
        if self.headers.get("If-None-Match") == tag:
            self.send_response(304)
            self.send_header("ETag", tag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send(200, data, sandbox_images.content_type_for(image.path), etag=tag)

    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self._send_json(413, {"error": "bad Content-Length"})
            return None
        return self.rfile.read(length)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False).encode(),
                   "application/json; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str, etag: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if etag:
            self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


_ERROR_PAGE = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
               b"<h1>Bad Gateway</h1><p>The upstream server is temporarily unavailable.</p>"
               b"</body></html>")


def seller_center_page(state: st.SandboxState, issued: tuple[str, str] | None = None) -> str:
    """The stand-in for the marketplaces' seller centers: pick a shop, get a code."""
    rows = []
    for shop in sorted(SHOPS.values(), key=lambda item: (item.marketplace, item.site)):
        rows.append(
            f"<tr><td>{html.escape(shop.site)}</td><td>{html.escape(shop.name)}</td>"
            f"<td>{shop.shop_id}</td><td>{shop.sku_count:,}</td>"
            f'<td><form method="post" action="/seller-center/authorize">'
            f'<input type="hidden" name="shop_id" value="{shop.shop_id}">'
            f"<button>Generate authorization code</button></form></td></tr>")
    notice = ""
    if issued:
        shop = SHOPS[issued[0]]
        notice = (f'<p class="code">Authorization code for <b>{html.escape(shop.name)}</b> '
                  f"({html.escape(shop.site)}):<br><code>{issued[1]}</code><br>"
                  "Valid for 7 days and usable once. Paste it into Listing AI's "
                  "&ldquo;Add store&rdquo; form.</p>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Marketplace sandbox · seller center</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933}"
        "table{border-collapse:collapse}td,th{padding:.4rem .8rem;border-bottom:1px solid #ddd;"
        "text-align:left}.code{background:#eef6ee;padding:1rem;border:1px solid #9c9}"
        "code{font-size:1.3rem;user-select:all}</style></head><body>"
        "<h1>Seller center (marketplace sandbox)</h1>"
        "<p>Demo shops on Temu and AliExpress. The IP 127.0.0.1 is on every shop's whitelist."
        f"</p>{notice}<table><tr><th>Site</th><th>Shop</th><th>Shop ID</th><th>SKUs</th>"
        f"<th></th></tr>{''.join(rows)}</table></body></html>")


@dataclass
class RunningSandbox:
    server: SandboxServer
    state: st.SandboxState
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def temu_gateway_url(self) -> str:
        return self.url + TEMU_PATH

    @property
    def aliexpress_gateway_url(self) -> str:
        return self.url + ALIEXPRESS_PATH

    def stop(self) -> None:
        self.state.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_sandbox(host: str = "127.0.0.1", port: int = 0,
                  state_file: Path | None = None) -> RunningSandbox:
    """Serve on a background thread; port 0 picks a free one (see `.url`). With `state_file`
    tokens and applied content survive a restart (the demo)."""
    state = st.SandboxState()
    if state_file is not None:
        state.load(state_file)
    server = SandboxServer((host, port), state)
    thread = threading.Thread(target=server.serve_forever, name="marketplace-sandbox",
                              daemon=True)
    thread.start()
    return RunningSandbox(server, state, thread)
