"""Tenant A's object behind each API path with an {id}: the sweeps and schemathesis point
requests at real objects through it. A new path with an id needs an entry here."""

from __future__ import annotations

from tests.portal.conftest import TenantWorld
from tests.portal.test_url_walk import (
    _effect_listing,
    _experiment,
    _generation_item,
    _generation_job,
)


def object_ids(world: TenantWorld) -> dict[str, int]:
    job = _generation_job(world)
    ids = {
        "/api/v1/members/{id}/": world.owner_membership.pk,
        "/api/v1/products/{id}/": world.product.pk,
        "/api/v1/sync-runs/{id}/": world.sync_run.pk,
        "/api/v1/stores/{id}/": world.store.pk,
        "/api/v1/stores/{id}/reauthorize/": world.store.pk,
        "/api/v1/stores/{id}/revoke/": world.store.pk,
        "/api/v1/stores/{id}/archive/": world.store.pk,
        "/api/v1/subscriptions/{id}/": world.subscription.pk,
        "/api/v1/usage/today/{id}/": world.store.pk,
        "/api/v1/jobs/{id}/": job.pk,
        "/api/v1/jobs/{id}/cancel/": job.pk,
        "/api/v1/jobs/{id}/retry-failed/": job.pk,
        "/api/v1/jobs/{id}/retry-plan/": job.pk,
        "/api/v1/jobs/{id}/items/": job.pk,
        "/api/v1/job-items/{id}/": _generation_item(world).pk,
        "/api/v1/effects/listings/{id}/": _effect_listing(world)["pk"],
        "/api/v1/effects/experiments/{id}/": _experiment(world)["pk"],
    }
    for action in ("", "approve/", "edit/", "reject/", "regenerate/", "history/"):
        ids[f"/api/v1/reviews/{{id}}/{action}"] = world.review.pk
    return ids
