"""schemathesis against our own OpenAPI schema: every operation gets generated requests
(bounded, derandomized: the same every run), in-process through the WSGI app, with tenant A's
owner key; the answers must not be server errors, must use documented status codes and
content types, and must match the documented response schemas."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from tests.conftest import owner_key
from tests.portal.api_objects import object_ids

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 10  # per operation


@pytest.fixture
def api_schema(world_a, settings):
    settings.API_RATE_PER_KEY = settings.API_RATE_PER_TENANT = "100000/minute"
    # Django closes the database connection after each request; the test's transaction
    # must outlive them (Django's own test client does the same).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def key_a(world_a) -> str:
    return owner_key(world_a.tenant, world_a.owner, "schemathesis")


def run_operation(operation, headers: dict, real_ids: dict[str, int]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        # Half the requests name tenant A's real objects, so full answers are checked too.
        wanted = real_ids.get(operation.path)
        if wanted and "id" in (case.path_parameters or {}) and \
                len(str(case.path_parameters["id"])) % 2 == 0:
            case.path_parameters["id"] = wanted
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


def test_the_api_does_what_its_schema_says(api_schema, world_a, key_a):
    headers = {"Authorization": f"Api-Key {key_a}"}
    real_ids = object_ids(world_a)
    failures, operations = [], 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            run_operation(operation, headers, real_ids)
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 (reported together)
            failures.append(f"{operation.label}: {str(error)[:1500]}")
    assert operations > 30
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)
