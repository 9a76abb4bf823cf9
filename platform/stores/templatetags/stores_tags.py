from __future__ import annotations

from django import template

from stores import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def stores_needing_attention(context) -> list[selectors.StoreOverview]:
    """For the dashboard's banner: the tenant's stores whose token (nearly) expired or that
    the marketplace refuses. Empty outside a tenant."""
    request = context.get("request")
    if request is None or getattr(request, "tenant", None) is None:
        return []
    return selectors.stores_needing_attention()
