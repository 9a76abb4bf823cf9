"""Paged lists in the portal and console (the links are templates/_pagination.html)."""

from __future__ import annotations

from django.http import HttpRequest

from portal.limits import MAX_ID


def query_without_page(request: HttpRequest) -> str:
    """The page's query string without `page`: the filters the page links keep."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def int_param(value: str | None, default: int | None = None) -> int | None:
    """A query or form parameter as a whole number: its digits (surrounding spaces allowed)
    as an int, else `default` (missing, blank, negative, decimal, not a number, or beyond
    any id)."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit() and len(value) <= 19 and int(value) <= MAX_ID:
        return int(value)
    return default
