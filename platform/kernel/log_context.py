"""What every log line carries: the request, tenant, job and item it belongs to.

The web request (RequestIdMiddleware), the tenant scope (TenantMiddleware, tenant tasks) and
the generation pipeline bind their ids here; `LogContextFilter` adds them to each record, so
the JSON logs (LOG_FORMAT=json) of one request or one job can be found together.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

FIELDS = ("request_id", "tenant_id", "job_id", "item_id")
_context: ContextVar[dict] = ContextVar("log_context", default={})  # noqa: B039 (never mutated)
# A proxy's or client's request id is kept when it looks like one (no log injection).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@contextmanager
def bound(**ids: int | str | None) -> Iterator[None]:
    """Add these ids to the log context of everything inside (other ids stay)."""
    token = _context.set({**_context.get(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current() -> dict:
    return dict(_context.get())


class LogContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        for name in FIELDS:
            setattr(record, name, context.get(name))
        return True


class RequestIdMiddleware:
    """Every request gets an id (the proxy's X-Request-ID when it sent a sane one), bound to
    its log lines and returned in the response's X-Request-ID."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
        request.request_id = request_id
        with bound(request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
