"""What both connectors do around each gateway call: the shared limits, one HTTP POST whose every
failure becomes a MarketplaceError, bounded retries of "rate limited" answers, and strict reading
of the answer's shape (a marketplace answer we do not understand is never half-trusted)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import InvalidOperation
from typing import Any, TypeVar

import requests
from django.conf import settings

from marketplaces import limits
from marketplaces.connectors.base import MarketplaceError

logger = logging.getLogger("marketplaces")

UNAVAILABLE = "ERR_MARKETPLACE_UNAVAILABLE"
RATE_LIMITED = "ERR_MARKETPLACE_RATE_LIMITED"
SIGNATURE = "ERR_MARKETPLACE_SIGNATURE"

T = TypeVar("T")


class ShapeError(ValueError):
    """The answer parsed as JSON but is not shaped as the API promises."""


def unavailable(message: str, *, request_id: str = "") -> MarketplaceError:
    return MarketplaceError(UNAVAILABLE, message, retryable=True, request_id=request_id)


class Transport:
    """One per connector: keeps the HTTP connection alive across a sync's pages."""

    def __init__(self, marketplace: str, store_key: str, time_zone: Any) -> None:
        self.marketplace = marketplace
        self.store_key = store_key
        self.time_zone = time_zone
        self.session = requests.Session()

    def app_credentials(self) -> tuple[str, str]:
        app = settings.MARKETPLACE_APPS.get(self.marketplace) or {}
        key, secret = app.get("app_key", ""), app.get("app_secret", "")
        if not key or not secret:
            logger.error("No app key/secret configured for %s (MARKETPLACE_APPS)",
                         self.marketplace)
            raise MarketplaceError(SIGNATURE, f"no app credentials for {self.marketplace}")
        return key, secret

    def call(self, once: Callable[[], T]) -> T:
        """Run one gateway call inside the limits, retrying "rate limited" answers with
        exponential backoff a bounded number of times (each retry is a request too)."""
        app_key, _ = self.app_credentials()
        retries = settings.MARKETPLACE_RATE_LIMIT_RETRIES
        for attempt in range(retries + 1):
            if self.store_key:  # token creation has no store yet
                limits.spend_daily_request(self.store_key, self.time_zone)
            limits.take_app_slot(self.marketplace, app_key)
            try:
                return once()
            except MarketplaceError as error:
                if error.code != RATE_LIMITED or attempt == retries:
                    raise
                delay = settings.MARKETPLACE_RETRY_BACKOFF_SECONDS * 2 ** attempt
                logger.info("%s rate limited (request %s); retry %d in %.2fs", self.marketplace,
                            error.request_id, attempt + 1, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def post(self, url: str, *, json: Any = None, data: Any = None) -> dict[str, Any]:
        """POST; the JSON object answered, else ERR_MARKETPLACE_UNAVAILABLE (retryable)."""
        try:
            response = self.session.post(url, json=json, data=data,
                                         timeout=settings.MARKETPLACE_TIMEOUT_SECONDS)
        except requests.Timeout as error:
            raise self.log_failure(unavailable(f"{self.marketplace} timed out: {error}")) from error
        except requests.RequestException as error:  # refused, reset, truncated body, ...
            raise self.log_failure(unavailable(f"{self.marketplace} connection failed: {error}")
                            ) from error
        if response.status_code != 200:
            raise self.log_failure(unavailable(f"{self.marketplace} answered HTTP "
                                        f"{response.status_code}"))
        try:
            payload = response.json()
        except ValueError as error:
            raise self.log_failure(unavailable(f"{self.marketplace} answered non-JSON "
                                        f"({response.headers.get('Content-Type', '?')}): "
                                        f"{response.text[:120]!r}")) from error
        if not isinstance(payload, dict):
            raise self.log_failure(unavailable(f"{self.marketplace} answered a JSON "
                                        f"{type(payload).__name__}, not an object"))
        return payload

    def log_failure(self, error: MarketplaceError) -> MarketplaceError:
        logger.warning("%s store=%s %s", error.code, self.store_key or "-", error)
        return error

    def gateway_error(self, code: str, marketplace_code: str, message: str, request_id: str,
                      *, retryable: bool = False) -> MarketplaceError:
        """A refusal by the gateway, mapped to our code and logged (ours: loudly)."""
        error = MarketplaceError(code, message, retryable=retryable, request_id=request_id,
                                 marketplace_code=marketplace_code)
        if code == SIGNATURE:
            logger.error("%s rejected our request (%s: %s, request %s): check the app key, "
                         "secret, clock and signing code", self.marketplace, marketplace_code,
                         message, request_id)
        else:
            logger.warning("%s store=%s %s (%s: %s, request %s)", code, self.store_key or "-",
                           self.marketplace, marketplace_code, message, request_id)
        return error


@contextmanager
def reading_answer(marketplace: str, request_id: str = "") -> Iterator[None]:
    """Turn any surprise while reading an answer into ERR_MARKETPLACE_UNAVAILABLE."""
    try:
        yield
    except (ShapeError, KeyError, TypeError, ValueError, AttributeError, InvalidOperation,
            OverflowError) as error:
        logger.warning("%s %s answered an unexpected shape (request %s): %r", UNAVAILABLE,
                       marketplace, request_id, error)
        raise unavailable(f"{marketplace} answered an unexpected shape: {error!r}",
                          request_id=request_id) from error


def need(mapping: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    """mapping[key], which must be of `kind` (a bool is not an int here)."""
    if not isinstance(mapping, dict):
        raise ShapeError(f"expected an object holding {key!r}, got {type(mapping).__name__}")
    value = mapping.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise ShapeError(f"{key!r} should be {kind}, got {value!r:.60}")
    return value


def optional(mapping: Any, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    """mapping[key] like `need`, or `default` when it is missing or null."""
    if not isinstance(mapping, dict):
        raise ShapeError(f"expected an object holding {key!r}, got {type(mapping).__name__}")
    return default if mapping.get(key) is None else need(mapping, key, kind)


def strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ShapeError(f"{name} should be a list of strings")
    return list(value)


def token_fields(answer: Any, *, shop_id: str, shop_name: str, scopes: str, expires_at: str,
                 to_datetime: Callable[[int], datetime]) -> dict[str, Any]:
    """What TokenGrant and TokenInfo share, read from the answer's fields of these names."""
    return {
        "shop_id": str(need(answer, shop_id, (int, str))),
        "shop_name": optional(answer, shop_name, str, ""),
        "scopes": strings(optional(answer, scopes, list, []), scopes),
        "expires_at": to_datetime(need(answer, expires_at, int)),
    }


def parameter_value(value: Any) -> str | None:
    """A product parameter: text, a number as text, or None when the seller left it empty."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ShapeError(f"parameter value {value!r:.40}")


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
