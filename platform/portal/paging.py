"""Paged lists in the portal and console (the links are templates/_pagination.html)."""

from __future__ import annotations

from django.http import HttpRequest


def query_without_page(request: HttpRequest) -> str:
    """The page's query string without `page`: the filters the page links keep."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


BIGINT_MAX = 2**63 - 1


def int_param(value: str | None, default: int | None = None) -> int | None:
    """A query or form parameter as a whole number: its digits (surrounding spaces allowed)
    as an int, else `default` (missing, blank, negative, decimal, not a number, or beyond
    PostgreSQL's bigint: no id or count is that large)."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit() and int(value) <= BIGINT_MAX:
        return int(value)
    return default
