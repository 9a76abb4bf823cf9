"""Everything the sandbox remembers: codes, tokens, whitelists, received updates, the failures it
was told to produce. Shared by the server's threads, so every change holds the lock.

Tests drive it directly (`sandbox.state.fail_next("html")`); the demo through /__sandbox__/.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.shops import SHOPS, Shop

# The ways the sandbox can be told to misbehave.
HTML = "html"  # an HTML error page with status 200
MALFORMED_JSON = "malformed_json"
TRUNCATED = "truncated"  # announces more bytes than it sends, then hangs up
SLOW = "slow"  # answers after `slow_seconds`: longer than the client's timeout
BAD_SIGNATURE = "bad_signature"  # the gateway claims our signature is wrong
SERVER_ERROR = "server_error"  # HTTP 502 with an HTML body
RATE_LIMIT = "rate_limit"
TOKEN_EXPIRED = "token_expired"
PERMISSION_DENIED = "permission_denied"
IP_NOT_WHITELISTED = "ip_not_whitelisted"
WRONG_SHAPE = "wrong_shape"  # valid JSON, success, but the result is not what the API promises
CONNECTION_RESET = "connection_reset"  # hangs up without a byte
FAILURE_KINDS = (HTML, MALFORMED_JSON, TRUNCATED, SLOW, BAD_SIGNATURE, SERVER_ERROR, RATE_LIMIT,
                 TOKEN_EXPIRED, PERMISSION_DENIED, IP_NOT_WHITELISTED, WRONG_SHAPE,
                 CONNECTION_RESET)

CODE_VALIDITY = timedelta(days=7)
TOKEN_VALIDITY = timedelta(days=90)
TIMESTAMP_TOLERANCE_SECONDS = 300


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AuthorizationCode:
    code: str
    shop_id: str
    expires_at: datetime
    used: bool = False


@dataclass
class Token:
    token: str
    shop_id: str
    expires_at: datetime
    scopes: tuple[str, ...]

    @property
    def expired(self) -> bool:
        return self.expires_at <= now()


@dataclass
class Failure:
    kind: str
    remaining: int
    marketplace: str | None  # None: the next call to either marketplace


@dataclass
class SandboxState:
    slow_seconds: float = 3.0
    # Per app key, per second. Above the platform's own limit (20) so only bursts trip it.
    requests_per_second: int = 40
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    ip_whitelists: dict[str, set[str]] = field(default_factory=dict)
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # A content update is answered this many seconds after it was applied: a write that has
    # landed while its answer is still on the way (a worker killed then never hears of it).
    update_answer_delay_seconds: float = 0.0
    # Applied updates, per (shop, goods id, language): what a detail call shows afterwards.
    content: dict[tuple[str, int, str], dict[str, Any]] = field(default_factory=dict)
    _failures: list[Failure] = field(default_factory=list)
    _calls: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    stopping: threading.Event = field(default_factory=threading.Event)
    # The demo keeps what a real marketplace would keep across its restarts (tokens, applied
    # content, received updates) in this file; tests keep everything in memory.
    state_file: Path | None = None

    # -- persistence (the demo) ----------------------------------------------------------

    def load(self, path: Path) -> None:
        """Read `path` if it exists, and save every later change there."""
        self.state_file = path
        if not path.exists():
            return
        saved = json.loads(path.read_text())
        with self._lock:
            self.tokens = {entry["token"]: Token(
                entry["token"], entry["shop_id"], datetime.fromisoformat(entry["expires_at"]),
                tuple(entry["scopes"])) for entry in saved.get("tokens", [])}
            self.content = {(entry["shop_id"], entry["goods_id"], entry["language"]):
                            entry["fields"] for entry in saved.get("content", [])}
            self.updates = saved.get("updates", [])

    def _save(self) -> None:
        if self.state_file is None:
            return
        with self._lock:
            saved = {
                "tokens": [{"token": t.token, "shop_id": t.shop_id, "scopes": list(t.scopes),
                            "expires_at": t.expires_at.isoformat()}
                           for t in self.tokens.values()],
                "content": [{"shop_id": shop, "goods_id": goods, "language": language,
                             "fields": fields}
                            for (shop, goods, language), fields in self.content.items()],
                "updates": self.updates,
            }
            partial = self.state_file.with_suffix(".tmp")
            partial.write_text(json.dumps(saved, ensure_ascii=False, default=str))
            partial.replace(self.state_file)

    # -- control -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything tests or the demo changed; the product pool is not state."""
        with self._lock:
            self.slow_seconds = 3.0
            self.update_answer_delay_seconds = 0.0
            self.requests_per_second = 40
            for container in (self.codes, self.tokens, self.ip_whitelists, self.scopes,
                              self.content, self._calls):
                container.clear()
            self.updates.clear()
            self.requests.clear()
            self._failures.clear()

    def shop(self, shop_id: str) -> Shop:
        return SHOPS[shop_id]

    def issue_code(self, shop_id: str, valid_for: timedelta = CODE_VALIDITY) -> str:
        """What the seller center does when the seller clicks "generate authorization code"."""
        self.shop(shop_id)  # KeyError for an unknown shop
        code = secrets.token_hex(16)
        with self._lock:
            self.codes[code] = AuthorizationCode(code, shop_id, now() + valid_for)
        return code

    def issue_token(self, shop_id: str, valid_for: timedelta = TOKEN_VALIDITY,
                    scopes: tuple[str, ...] | None = None) -> Token:
        """A token without the code exchange, for tests that start from a connected store."""
        shop = self.shop(shop_id)
        token = Token(secrets.token_hex(24), shop_id, now() + valid_for,
                      tuple(scopes) if scopes is not None
                      else self.scopes.get(shop_id, shop.default_scopes))
        with self._lock:
            self.tokens[token.token] = token
            self._save()
        return token

    def expire_tokens(self, shop_id: str | None = None, token: str | None = None) -> int:
        with self._lock:
            matching = [item for item in self.tokens.values()
                        if (shop_id is None or item.shop_id == shop_id)
                        and (token is None or item.token == token)]
            for item in matching:
                item.expires_at = now() - timedelta(seconds=1)
            self._save()
        return len(matching)

    def set_scopes(self, shop_id: str, scopes: list[str] | tuple[str, ...]) -> None:
        """Scopes of the shop's next tokens, and of the ones it already has."""
        with self._lock:
            self.scopes[shop_id] = tuple(scopes)
            for item in self.tokens.values():
                if item.shop_id == shop_id:
                    item.scopes = tuple(scopes)

    def set_ip_whitelist(self, shop_id: str, ips: list[str] | set[str]) -> None:
        with self._lock:
            self.ip_whitelists[shop_id] = set(ips)

    def ip_whitelist(self, shop_id: str) -> set[str]:
        return self.ip_whitelists.get(shop_id, {"127.0.0.1"})

    def fail_next(self, kind: str, count: int = 1, marketplace: str | None = None) -> None:
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; one of {FAILURE_KINDS}")
        with self._lock:
            self._failures.append(Failure(kind, count, marketplace))

    def updates_for(self, goods_id: int | str) -> list[dict[str, Any]]:
        return [update for update in self.updates if str(update["goods_id"]) == str(goods_id)]

    # -- used by the protocol handlers ---------------------------------------------------

    def take_failure(self, marketplace: str) -> str | None:
        with self._lock:
            for failure in self._failures:
                if failure.marketplace in (None, marketplace):
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    return failure.kind
        return None

    def redeem_code(self, code: str) -> Token | None:
        """A token for a valid, unused, unexpired code; the code is spent either way."""
        with self._lock:
            entry = self.codes.get(code)
            if entry is None or entry.used or entry.expires_at <= now():
                return None
            entry.used = True
            return self.issue_token(entry.shop_id)

    def allow_call(self, app_key: str) -> bool:
        """Sliding one-second window per app key."""
        moment = time.monotonic()
        with self._lock:
            window = self._calls.setdefault(app_key, deque())
            while window and window[0] <= moment - 1.0:
                window.popleft()
            if len(window) >= self.requests_per_second:
                return False
            window.append(moment)
            return True

    def record_request(self, marketplace: str, api: str, shop_id: str = "") -> None:
        with self._lock:
            self.requests.append({"marketplace": marketplace, "api": api, "shop_id": shop_id,
                                  "at": now().isoformat()})

    def applied_content(self, shop_id: str, goods_id: int, language: str) -> dict[str, Any]:
        """The fields written to one listing in one language (what its detail shows)."""
        with self._lock:
            return dict(self.content.get((shop_id, int(goods_id), language), {}))

    def delay_update_answer(self) -> None:
        if self.update_answer_delay_seconds > 0:
            self.stopping.wait(self.update_answer_delay_seconds)

    def record_update(self, update: dict[str, Any]) -> None:
        with self._lock:
            self.updates.append(update)
            key = (update["shop_id"], int(update["goods_id"]), update["language"])
            applied = self.content.setdefault(key, {})
            applied.update({name: value for name, value in update.items()
                            if name in ("title", "bullet_points", "description", "search_terms")
                            and value is not None})
            self._save()
