"""API conventions shared by every endpoint: pagination and the one error body shape.

Every error answers `{"code": ..., "message": ..., "details": ...}`: `code` is stable for
programs, `message` is for people (in the request's language; for a catalogued ERR_ code it
ends with the remedy), `details` says what to fix field by field where that applies.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.error_codes import ERROR_CODES


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"code": code, "message": _with_remedy(code, message), "details": details or {}}


def _with_remedy(code: str, message: str) -> str:
    """A catalogued error (ERR_...) tells what to do, in every API answer that carries it."""
    if code not in ERROR_CODES:
        return message
    remedy = str(ERROR_CODES[code].remedy)
    return message if remedy in message else f"{message} {remedy}".strip()


def _message_and_details(exc: exceptions.APIException) -> tuple[str, Any]:
    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        return _("The request has invalid fields; see details."), detail
    if isinstance(detail, dict):
        return str(detail.get("detail", exc.default_detail)), {}
    if isinstance(detail, list):
        return " ".join(str(d) for d in detail), {}
    return str(detail), {}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        detail_code = exc.detail.code if isinstance(exc.detail, exceptions.ErrorDetail) else None
        code = getattr(exc, "error_code", None) or detail_code or exc.default_code
        message, details = _message_and_details(exc)
        details = getattr(exc, "error_details", None) or details
    else:  # Http404 / PermissionDenied turned into responses by DRF
        code = "not_found" if response.status_code == 404 else "permission_denied"
        message = str(response.data.get("detail", ""))
        details = {}
    response.data = error_body(str(code), message, details)
    return response


def json_error(request: HttpRequest, status: int, code: str, message: str,
               details: Any = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)
