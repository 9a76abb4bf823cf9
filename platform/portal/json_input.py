"""JSON from outside (API bodies, Stripe events, pasted product data): parsed with a depth
limit, and refused when any text holds the NUL character, which PostgreSQL cannot store.

Python's parser recurses once per level, so 50,000 nested brackets raised RecursionError
(a 500); json.loads is still the parser (fast, in C), and the result is then walked without
recursion to check depth and text.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _


class InvalidJson(ValueError):
    """Not JSON we accept; the message says what to fix."""

    def __init__(self, message: str, code: str = "parse_error",
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or {}  # e.g. the parser's own (English) words, as a detail


def loads(text: str | bytes, *, max_depth: int | None = None) -> Any:
    max_depth = max_depth or settings.INPUT_JSON_MAX_DEPTH
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidJson(_too_deep(max_depth)) from None
    except json.JSONDecodeError as error:
        raise InvalidJson(
            _("The body is not valid JSON: the error is at line %(line)s, column %(column)s.")
            % {"line": error.lineno, "column": error.colno},
            details={"line": error.lineno, "column": error.colno,
                     "parser_message": error.msg}) from None
    except ValueError as error:  # bad UTF-8, an over-long number
        raise InvalidJson(_("The body is not valid JSON."),
                          details={"parser_message": str(error)}) from None
    check(value, max_depth=max_depth)
    return value


def check(value: Any, *, max_depth: int | None = None) -> None:
    """Raise InvalidJson if `value` (parsed JSON) is nested deeper than `max_depth` or holds
    a NUL character in a key or a string."""
    max_depth = max_depth or settings.INPUT_JSON_MAX_DEPTH
    pending: list[tuple[Any, int, str]] = [(value, 0, "")]
    while pending:
        item, depth, path = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise InvalidJson(nul_message(path or _("the body")), code="nul_character")
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= max_depth:
            raise InvalidJson(_too_deep(max_depth))
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in pairs:
            if isinstance(key, str) and "\x00" in key:
                raise InvalidJson(nul_message(path or _("the body")), code="nul_character")
            pending.append((child, depth + 1, f"{path}.{key}" if path else str(key)))


def nul_message(where: str) -> str:
    return _("Text cannot contain the NUL character (\\0, \\u0000): remove it from "
             "%(where)s and send again.") % {"where": where}


def _too_deep(max_depth: int) -> str:
    return _("The JSON is nested too deeply: at most %(depth)s levels of objects and lists "
             "are accepted.") % {"depth": max_depth}


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")
