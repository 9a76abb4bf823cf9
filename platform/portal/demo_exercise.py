"""An hour of real use in minutes, against a running demo (`make run`): generation jobs, a
catalog sync, review decisions and publishing at once, through the public API, so the demo's
own web server, Celery worker and django-q cluster do the work on its database. It then waits
until every item and every publication has ended, and says what did not.

`manage.py exercise_demo` runs it (README, "Trying it under load").
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from portal.demo_data import TENANTS
from tenants.api_keys import create_api_key
from tenants.models import Membership, Tenant, User
from tenants.roles import TenantRole
from tenants.scope import tenant_scope

JOB_ENDED = {"completed", "completed_with_errors", "failed", "cancelled"}
# Review states in which nothing more will happen without a person.
REVIEW_SETTLED = {"published", "publish_failed", "rejected", "publish_refused"}


@dataclass
class Exercise:
    """What was asked of the demo, and how it ended."""

    jobs: list[int] = field(default_factory=list)
    sync_run: int | None = None
    decisions: Counter = field(default_factory=Counter)
    published: set[int] = field(default_factory=set)
    # Approved items the platform would not publish, with the reason's code: they end there
    # until a person fixes the cause (e.g. re-authorizes the store).
    publish_refused: dict[int, str] = field(default_factory=dict)
    job_status: dict[int, str] = field(default_factory=dict)
    items: Counter = field(default_factory=Counter)
    reviews: Counter = field(default_factory=Counter)
    sync_status: str = ""
    seconds: float = 0.0
    stuck: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"jobs": len(self.jobs), "items": dict(self.items),
                "job_status": dict(Counter(self.job_status.values())),
                "decisions": dict(self.decisions), "publish_requested": len(self.published),
                "publish_refused": dict(Counter(self.publish_refused.values())),
                "reviews": dict(self.reviews), "sync": self.sync_status,
                "seconds": round(self.seconds, 1), "stuck": self.stuck}


def demo_api_key() -> str:
    """A key of the first demo company's owner (review and publish included)."""
    tenant = Tenant.objects.get(slug=TENANTS[0]["slug"])
    owner = User.objects.get(email=TENANTS[0]["members"][0][0])
    assert Membership.unscoped.filter(tenant=tenant, user=owner, role=TenantRole.OWNER).exists()
    with tenant_scope(tenant):
        return create_api_key(created_by=owner, name="exercise_demo",
                              role=TenantRole.OWNER).raw_key


class Api:
    def __init__(self, base_url: str, key: str) -> None:
        self.base = base_url.rstrip("/") + "/api/v1/"
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Api-Key {key}",
                                     "Accept-Language": "en"})

    def get(self, path: str, **params) -> Any:
        response = self.session.get(self.base + path, params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict | None = None) -> Any:
        response = self.session.post(self.base + path, json=body or {}, timeout=30)
        if response.status_code >= 500:
            response.raise_for_status()
        return response.status_code, response.json()

    def every(self, path: str, **params) -> list[dict]:
        rows, page = [], 1
        while True:
            body = self.get(path, page=page, page_size=200, **params)
            rows += body["results"]
            if not body.get("next"):
                return rows
            page += 1


def run(base_url: str, *, jobs: int = 3, skus_per_job: int = 30,
        timeout_seconds: float = 600, key: str | None = None) -> Exercise:
    api = Api(base_url, key or demo_api_key())
    outcome = Exercise()
    started = time.monotonic()
    store = next(s for s in api.every("stores/")
                 if s.get("status") in ("healthy", "connected", "syncing", "stale"))
    products = [p["id"] for p in api.every("products/", store=store["id"])]
    slices = [products[i * skus_per_job:(i + 1) * skus_per_job] for i in range(jobs)]

    def start_job(product_ids: list[int]) -> int:
        status, body = api.post("jobs/", {
            "store": store["id"], "kinds": ["title", "bullet_points"],
            "languages": ["en", "de"], "compliance_mode": True, "product_ids": product_ids})
        if status != 201:
            raise RuntimeError(f"the demo refused a job: {body}")
        return body["id"]

    with ThreadPoolExecutor(max_workers=jobs + 1) as pool:
        sync = pool.submit(api.post, "sync-runs/", {"store": store["id"]})
        outcome.jobs = list(pool.map(start_job, slices))
        status, body = sync.result()
        outcome.sync_run = body.get("id") or body.get("details", {}).get("run")

    deadline = started + timeout_seconds
    turns = itertools.cycle(["approve", "approve", "approve", "reject", "regenerate"])
    while time.monotonic() < deadline:
        _decide_waiting(api, outcome, turns)
        if _ended(api, outcome):
            break
        time.sleep(2)
    outcome.seconds = time.monotonic() - started
    outcome.stuck = _what_is_stuck(api, outcome)
    return outcome


def _decide_waiting(api: Api, outcome: Exercise, turns) -> None:
    """Decide every waiting item of our jobs the way a reviewer might, then publish what is
    approved: most are approved, some rejected, some sent back for regeneration."""
    for job_id in outcome.jobs:
        for review in api.every("reviews/", job=job_id, status="pending"):
            decision = next(turns)
            body = {"reason": "Exercise: not our style."} if decision == "reject" else \
                {"note": "Exercise: shorter, please."} if decision == "regenerate" else None
            status, _answer = api.post(f"reviews/{review['id']}/{decision}/", body)
            outcome.decisions[decision if status == 200 else f"{decision}_refused"] += 1
        approved = [review["id"] for status in ("approved", "edited_approved")
                    for review in api.every("reviews/", job=job_id, status=status)
                    if review["id"] not in outcome.published
                    and review["id"] not in outcome.publish_refused]
        if approved:
            _status, body = api.post("reviews/publish/", {"ids": approved})
            outcome.published.update(body.get("done", []))
            outcome.publish_refused.update({skip["id"]: skip["code"]
                                            for skip in body.get("skipped", [])})


def _ended(api: Api, outcome: Exercise) -> bool:
    outcome.job_status = {job_id: api.get(f"jobs/{job_id}/")["status"]
                          for job_id in outcome.jobs}
    outcome.items = Counter(item["status"] for job_id in outcome.jobs
                            for item in api.every(f"jobs/{job_id}/items/"))
    outcome.reviews = Counter(
        "publish_refused" if review["id"] in outcome.publish_refused else review["status"]
        for job_id in outcome.jobs for review in api.every("reviews/", job=job_id, status="all"))
    if outcome.sync_run:
        outcome.sync_status = api.get(f"sync-runs/{outcome.sync_run}/")["status"]
    jobs_done = all(status in JOB_ENDED for status in outcome.job_status.values())
    reviews_done = set(outcome.reviews) <= REVIEW_SETTLED
    sync_done = outcome.sync_status not in ("queued", "running")
    return jobs_done and reviews_done and sync_done


def _what_is_stuck(api: Api, outcome: Exercise) -> list[str]:
    _ended(api, outcome)
    stuck = [f"job #{job_id} is {status}" for job_id, status in outcome.job_status.items()
             if status not in JOB_ENDED]
    stuck += [f"{count} reviews are {status}" for status, count in outcome.reviews.items()
              if status not in REVIEW_SETTLED]
    if outcome.sync_status in ("queued", "running"):
        stuck.append(f"sync run #{outcome.sync_run} is {outcome.sync_status}")
    return stuck
