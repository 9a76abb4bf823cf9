"""Roles and what each may do: the one place every permission check asks."""

from __future__ import annotations

from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class TenantRole(models.TextChoices):
    OWNER = "owner", _("Owner")
    OPERATOR = "operator", _("Operator")
    REVIEWER = "reviewer", _("Reviewer")
    VIEWER = "viewer", _("Viewer")


class StaffRole(models.TextChoices):
    PLATFORM_ADMIN = "platform_admin", _("Platform admin")
    SUPPORT = "support", _("Support")
    FINANCE = "finance", _("Finance")


class TenantPermission(StrEnum):
    VIEW = "view"
    START_WORK = "start_work"  # authorize stores, sync, launch generation
    REVIEW = "review"  # approve, edit, reject, regenerate AI texts
    # Send approved texts to the marketplace. Reviewers publish what they approved (the
    # person's check the marketplaces require is the approval, not the button), operators
    # publish because they run the stores; viewers do not. README "Roles" says why.
    PUBLISH = "publish"
    MANAGE_MEMBERS = "manage_members"
    MANAGE_API_KEYS = "manage_api_keys"
    MANAGE_COMPANY = "manage_company"


class StaffPermission(StrEnum):
    VIEW_TENANTS = "view_tenants"
    MANAGE_TENANTS = "manage_tenants"  # verify, suspend, reactivate
    VIEW_FINANCE = "view_finance"
    MANAGE_FINANCE = "manage_finance"  # approve, issue and mark paid usage statements
    VIEW_GENERATION = "view_generation"  # model nodes, instructions, request logs, diagnose, cost
    MANAGE_GENERATION = "manage_generation"  # edit nodes, instruction sets and banned words


TENANT_ROLE_PERMISSIONS: dict[str, frozenset[TenantPermission]] = {
    TenantRole.OWNER: frozenset(TenantPermission),
    TenantRole.OPERATOR: frozenset({TenantPermission.VIEW, TenantPermission.START_WORK,
                                    TenantPermission.PUBLISH}),
    TenantRole.REVIEWER: frozenset({TenantPermission.VIEW, TenantPermission.REVIEW,
                                    TenantPermission.PUBLISH}),
    TenantRole.VIEWER: frozenset({TenantPermission.VIEW}),
}

# Read-only while the tenant is pending verification or suspended.
WORK_PERMISSIONS = frozenset({TenantPermission.START_WORK, TenantPermission.REVIEW,
                              TenantPermission.PUBLISH})

STAFF_ROLE_PERMISSIONS: dict[str, frozenset[StaffPermission]] = {
    StaffRole.PLATFORM_ADMIN: frozenset(StaffPermission),
    StaffRole.SUPPORT: frozenset({StaffPermission.VIEW_TENANTS,
                                  StaffPermission.VIEW_GENERATION}),
    StaffRole.FINANCE: frozenset({StaffPermission.VIEW_TENANTS, StaffPermission.VIEW_FINANCE,
                                     StaffPermission.MANAGE_FINANCE}),
}


def narrower_role(first: str, second: str) -> str:
    """The role with only the permissions both roles have. An API key acts with at most its
    creator's current role: an owner's operator key demoted to reviewer acts as a viewer."""
    both = (TENANT_ROLE_PERMISSIONS.get(first, frozenset())
            & TENANT_ROLE_PERMISSIONS.get(second, frozenset()))
    for role, permissions in TENANT_ROLE_PERMISSIONS.items():
        if permissions == both:
            return role
    return TenantRole.VIEWER


class KeyScope(models.TextChoices):
    """What an API key may change (besides reading, which every key may). A key without
    scopes may do everything its role allows; a key with scopes only what they name."""

    READ_ONLY = "read_only", _("Read only")
    JOBS = "jobs", _("Catalog syncs and generation jobs")
    REVIEW = "review", _("Review decisions")
    PUBLISH = "publish", _("Publishing")


def tenant_role_allows(role: str, tenant_is_active: bool, permission: TenantPermission) -> bool:
    if permission in WORK_PERMISSIONS and not tenant_is_active:
        return False
    return permission in TENANT_ROLE_PERMISSIONS.get(role, frozenset())


def staff_role_allows(role: str, permission: StaffPermission) -> bool:
    return permission in STAFF_ROLE_PERMISSIONS.get(role, frozenset())
