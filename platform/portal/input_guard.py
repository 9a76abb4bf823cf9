"""Every request input is checked for the NUL character before a view reads it: PostgreSQL
text cannot hold it, so a NUL in a search box, a form field or a reject reason raised a
database error (a 500). The address, the query string and form fields are checked here;
JSON bodies by portal.json_input (through the API's parser). Uploaded files may hold any
bytes and are not checked.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from portal.api import json_error
from portal.json_input import nul_message

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def nul_field(request: HttpRequest) -> str | None:
    """Where the request carries a NUL character (a field's name), or None."""
    if "\x00" in request.path:
        return _("the address")
    sources = [request.GET]
    if request.method == "POST" and request.content_type in FORM_TYPES:
        sources.append(request.POST)
    for source in sources:
        for name, values in source.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return name.replace("\x00", "")
    return None


def refuse_nul(request: HttpRequest, where: str) -> HttpResponse:
    message = nul_message(where)
    if request.path.startswith("/api/"):
        return json_error(request, 400, "nul_character", message, {where: [message]})
    return render(request, "400.html", {"message": message}, status=400)


class InputGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = nul_field(request)
        if where is not None:
            return refuse_nul(request, where)
        return self.get_response(request)
