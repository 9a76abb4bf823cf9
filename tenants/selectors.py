"""Reads about tenants and their members."""

from __future__ import annotations

from django.db.models import QuerySet

from tenants.models import Membership, User


def memberships_of(user: User) -> QuerySet[Membership]:
    """All tenants a user belongs to: crosses tenants on purpose, for the tenant switcher."""
    return Membership.unscoped.filter(user=user).select_related("tenant").order_by("tenant__name")


def active_membership(memberships: list[Membership], tenant_id: int | None
                      ) -> Membership | None:
    """The membership of the session's tenant, else the first one (memberships_of's list)."""
    for membership in memberships:
        if membership.tenant_id == tenant_id:
            return membership
    return memberships[0] if memberships else None
