"""The client's address, for rate limits: behind our own HTTPS proxies, the connection comes
from the proxy, so every user would share one address (and one sign-in limit)."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """With TRUSTED_PROXY_COUNT = N > 0, the address the N-th proxy from our side saw the
    request come from (X-Forwarded-For lists one address per proxy, each appending the one
    it was called from; entries further left are the client's to invent). With 0, or a
    header shorter than N or holding no address there, the connection's own address."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "")
                     .split(",")]
        if len(forwarded) >= proxies:
            try:
                return str(ipaddress.ip_address(forwarded[-proxies]))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR") or "0.0.0.0"  # noqa: S104 (a key, not a bind)
