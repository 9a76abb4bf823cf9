"""The OpenAPI schema's view of errors: every operation documents the error answers the API
gives it (all in the one error body of portal.api), so that the schema describes what the
API does; operation-specific ones (409) are declared where they happen."""

from __future__ import annotations

from drf_spectacular import openapi
from rest_framework import serializers


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs (e.g. `not_found`, "
                                           "`ERR_REVIEW_STATE`).")
    message = serializers.CharField(help_text="For people, in the request's language.")
    details = serializers.DictField(help_text="What to fix, field by field; may be empty.")


# Where a state answers 409 (the review decisions, a sync already running), the view
# declares it: `extend_schema(responses={..., 409: ErrorBodySerializer})`.

# Every API operation: bad input anywhere (even a NUL in the query string), no or a wrong
# credential, a role or key scope that does not allow it, and the rate limits.
COMMON_ERRORS = (400, 401, 403, 429)


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = list(COMMON_ERRORS)
        if "{" in self.path or (self._is_list_view() and self._get_paginator()):
            codes.append(404)  # not one of the tenant's objects; a page past the last
        if self.method in ("POST", "PUT", "PATCH"):
            codes += [413, 415]  # a body over the upload limit, or not JSON or a form
        for code in codes:
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    ErrorBodySerializer, str(code), direction=direction)
        return responses
