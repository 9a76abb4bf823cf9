"""Paged lists in the portal and console (the links are templates/_pagination.html)."""

from __future__ import annotations

from django.http import HttpRequest


def query_without_page(request: HttpRequest) -> str:
    """The page's query string without `page`: the filters the page links keep."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()
