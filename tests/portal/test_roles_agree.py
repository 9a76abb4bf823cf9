"""Who may do what: README's "Roles" table, tenants/roles.py and the server agree.

Publishing is its own permission (owners, operators and reviewers; never viewers), so the README
row, the role table and what the review page and the API let each role do are one decision.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from review.models import Review
from tenants.roles import TENANT_ROLE_PERMISSIONS, TenantPermission, TenantRole
from tenants.scope import tenant_scope
from tests.conftest import add_member, client_for

README = Path(settings.BASE_DIR) / "README.md"
ROLE_COLUMNS = [TenantRole.OWNER, TenantRole.OPERATOR, TenantRole.REVIEWER, TenantRole.VIEWER]
# The README's rows, by the words they start with, and the permissions each row stands for.
ROWS = {
    "read everything": {TenantPermission.VIEW},
    "start work": {TenantPermission.START_WORK},
    "review AI texts": {TenantPermission.REVIEW},
    "publish approved texts": {TenantPermission.PUBLISH},
    "manage members": {TenantPermission.MANAGE_MEMBERS, TenantPermission.MANAGE_API_KEYS,
                       TenantPermission.MANAGE_COMPANY},
}


def readme_role_table() -> dict[str, list[bool]]:
    section = README.read_text().split("## Roles", 1)[1].split("\n## ", 1)[0]
    table = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and not set(cells[1]) <= {":", "-"} and cells[1] != "owner":
            table[cells[0]] = [c == "✓" for c in cells[1:]]
    return table


def test_the_readme_role_table_is_tenants_roles_py():
    table = readme_role_table()
    assert len(table) == len(ROWS), table
    covered = set()
    for label, ticks in table.items():
        permissions = next(p for start, p in ROWS.items() if label.startswith(start))
        covered |= permissions
        for role, ticked in zip(ROLE_COLUMNS, ticks, strict=True):
            held = permissions <= TENANT_ROLE_PERMISSIONS[role]
            assert held == ticked, f"README says {role} {'may' if ticked else 'may not'} {label}"
    assert covered == set(TenantPermission), "a permission missing from the README's table"


def test_the_readme_says_who_publishes_and_why():
    section = README.read_text().split("## Roles", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"\*\*Who publishes, and why\.\*\*", section)
    assert "start work: authorize stores, sync, launch generation |" in section  # not "publish"


@pytest.fixture
def approved(world_a):
    with tenant_scope(world_a.tenant):
        Review.objects.filter(pk=world_a.review.pk).update(status=Review.Status.APPROVED)
    return world_a


@pytest.mark.parametrize("role,may", [(TenantRole.OWNER, True), (TenantRole.OPERATOR, True),
                                      (TenantRole.REVIEWER, True), (TenantRole.VIEWER, False)])
def test_each_role_publishes_as_the_table_says(approved, role, may):
    user = approved.owner if role == TenantRole.OWNER else add_member(approved.tenant, role)
    client = client_for(user, approved.tenant)
    page = client.get(reverse("review_item", args=[approved.review.pk])).content.decode()
    publish_url = reverse("review_publish", args=[approved.review.pk])
    assert (publish_url in page) == may, f"{role}: publish button shown={publish_url in page}"
    response = client.post(publish_url)
    assert (response.status_code == 403) == (not may), (role, response.status_code)
    with tenant_scope(approved.tenant):
        queued = Review.objects.get(pk=approved.review.pk).publish_pending
    assert queued == may, role
