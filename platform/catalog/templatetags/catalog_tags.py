"""Template helpers of the catalog: a store's sync panel, and error-code explanations."""

from __future__ import annotations

from django import template

from catalog import selectors
from catalog.models import QualityFlag
from catalog.quality import QUALITY_FLAG_HELP
from portal.error_codes import ErrorCode, describe
from stores.models import Store
from tenants.access import member_can
from tenants.roles import TenantPermission

register = template.Library()


@register.inclusion_tag("catalog/_sync_panel.html", takes_context=True)
def store_sync_panel(context: template.Context, store: Store) -> dict:
    """The latest sync run of `store` with its live progress, and the sync-now button."""
    request = context["request"]
    return {
        "request": request,
        "store": store,
        "run": selectors.latest_run(store),
        "can_sync": member_can(request, TenantPermission.START_WORK),
        "next": request.get_full_path(),
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag
def describe_error(code: str) -> ErrorCode:
    return describe(code)


@register.filter
def quality_flag_label(flag: str) -> str:
    return str(QualityFlag(flag).label) if flag in QualityFlag.values else flag


@register.filter
def quality_flag_help(flag: str) -> str:
    return str(QUALITY_FLAG_HELP.get(flag, ""))
