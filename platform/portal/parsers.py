"""The API's JSON parser (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES). Kept apart from
portal.api: DRF imports its parser classes while it loads."""

from __future__ import annotations

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, parsers, status

from portal import json_input


def too_large_message() -> str:
    return _("The request body is larger than %(size)s: send less at once.") % {
        "size": filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)}


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = gettext_lazy("The request body is too large.")


class InvalidJsonBody(exceptions.ParseError):
    def __init__(self, error: json_input.InvalidJson) -> None:
        super().__init__(str(error))
        self.error_code = error.code
        self.error_details = error.details


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the limits of portal.json_input (depth, NUL) and the upload
    limit (DATA_UPLOAD_MAX_MEMORY_SIZE), which Django applies to forms but DRF's own JSON
    parser does not."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1 if limit is not None else -1)
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(too_large_message())
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json_input.loads(raw.decode(encoding))
        except UnicodeDecodeError as error:
            body = exceptions.ParseError(_("The body is not valid JSON: it is not %(encoding)s.")
                                         % {"encoding": encoding})
            body.error_details = {"parser_message": str(error)}
            raise body from None
        except json_input.InvalidJson as error:
            raise InvalidJsonBody(error) from None
