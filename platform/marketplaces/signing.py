"""Request signatures of the marketplace gateways (our client and the sandbox both use them)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any


def _temu_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def temu_sign(params: dict[str, Any], app_secret: str) -> str:
    """Uppercase hex MD5 of secret + key1value1key2value2... (ASCII key order) + secret.

    Every top-level parameter except `sign` takes part; nested objects are compact JSON and
    booleans are true/false.
    """
    body = "".join(f"{key}{_temu_value(params[key])}" for key in sorted(params) if key != "sign")
    payload = f"{app_secret}{body}{app_secret}".encode()
    return hashlib.md5(payload, usedforsecurity=False).hexdigest().upper()


def aliexpress_sign(api_path: str, params: dict[str, Any], app_secret: str) -> str:
    """IOP signature: uppercase hex HMAC-SHA256 over (for /rest APIs) the API path, then the
    sorted key+value concatenation, keyed with the app secret. `sign_method=sha256`."""
    body = "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign")
    message = (api_path + body) if api_path.startswith("/") else body
    return hmac.new(app_secret.encode(), message.encode(), hashlib.sha256).hexdigest().upper()
