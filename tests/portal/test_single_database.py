"""One database dialect: PostgreSQL everywhere, the demo's embedded one included."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from config.database import database_settings, embedded_database_url, embedded_socket_dir
from portal.paging import int_param
from tests.conftest import english_client

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("url", ["sqlite:///var/demo.sqlite3", "sqlite://:memory:",
                                 "mysql://root@127.0.0.1/listing_ai"])
def test_a_database_url_that_is_not_postgresql_is_refused(url):
    with pytest.raises(ImproperlyConfigured, match="PostgreSQL"):
        database_settings(url)


def test_a_socket_directory_is_the_host(tmp_path):
    config = database_settings(embedded_database_url(tmp_path))
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["NAME"], config["USER"]) == (str(tmp_path), "listing_ai",
                                                                "postgres")


def test_the_embedded_server_is_found_where_postgresql_recorded_its_socket(tmp_path):
    assert embedded_socket_dir(tmp_path) == tmp_path  # never started: its data directory
    (tmp_path / "postmaster.pid").write_text(
        f"4242\n{tmp_path}\n1764000000\n5432\n/tmp/runtime-0/ab12cd34ef\n\n")
    assert embedded_socket_dir(tmp_path) == Path("/tmp/runtime-0/ab12cd34ef")


def test_no_sqlite_code_path_is_left_in_the_product():
    found = subprocess.run(
        ["git", "grep", "-n", "-i", "-E", r"sqlite|connection\.vendor", "--",
         "*.py", ":!tests/*"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert found.stdout == ""


@pytest.mark.parametrize("value", [str(2**63), str(2**64), "9" * 40])
def test_whole_numbers_beyond_bigint_are_no_number(value):
    assert int_param(value) is None
    assert int_param(str(2**63 - 1)) == 2**63 - 1


@pytest.mark.django_db
@pytest.mark.parametrize("url_name,parameter", [
    ("jobs", "store"), ("review", "job"), ("catalog", "store"), ("usage", "store")])
def test_filters_with_huge_integers_answer_normally(tenant_a, owner_a, url_name, parameter):
    response = english_client(owner_a, tenant_a).get(reverse(url_name),
                                                      {parameter: str(2**64)})
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/jobs/", "/api/v1/reviews/", "/api/v1/products/",
                                  "/api/v1/job-items/", "/api/v1/sync-runs/"])
def test_api_filters_with_huge_integers_answer_normally(tenant_a, owner_a, path):
    client = english_client(owner_a, tenant_a)
    for parameter in ("store", "job"):
        assert client.get(path, {parameter: str(2**64)}).status_code in (200, 400)


FORK_CHECK = """
import os, django
django.setup()
from django.db import connection

def backend() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]

parent = backend()
reader, writer = os.pipe()
child = os.fork()
if child == 0:
    os.write(writer, str(backend()).encode())
    connection.close()
    os._exit(0)
_, status = os.waitpid(child, 0)
print(parent, os.read(reader, 32).decode(), backend(), status)
"""


@pytest.mark.parametrize("pool_size", ["0", "2"])
def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(pool_size):
    """django-q's cluster and Celery's prefork pool fork: a child that used its parent's
    pooled connection shared the socket with it and both hung (seen in `make run`)."""
    from django.conf import settings

    env = {**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "config.settings",
           "DATABASE_POOL_MAX_SIZE": pool_size,
           "DATABASE_URL": _url_of(settings.DATABASES["default"])}
    result = subprocess.run([".venv/bin/python", "-c", FORK_CHECK], env=env, timeout=60,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    parent, child, parent_again, status = result.stdout.split()
    assert child != parent and status == "0"
    assert parent_again == parent  # the parent's session survived the child


def _url_of(database: dict) -> str:
    # The maintenance database: any session will do, and it exists before the test database.
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/postgres"
