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
