"""THE tenant-isolation test: every URL and API route, walked as someone who is not tenant A.

The routes come from the root resolver, recursively through every include, so a route added
later is walked automatically. A route with parameters needs an entry in ROUTE_PARAMS (or, for
the Django admin, ADMIN_OBJECTS) that points the parameters at tenant A's objects; without one
the walk fails and says what to add.

Each route is requested (GET, and POST when GET answers 405) three ways:

(a) signed in as the owner of tenant B, with tenant B in the session;
(b) anonymously;
(c) with tenant B's API key and no session.

Tenant A's data must never show: a 200 answer (or the page a redirect leads to) must not
contain tenant A's marker strings (its name, licence number, members' e-mails, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.admin import site as admin_site
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone
from django.utils.regex_helper import normalize

from audit.models import AuditEvent
from billing import quota
from billing.models import (
    DailyUsage,
    Reservation,
    StoreSubscription,
    StripeCustomer,
    StripeEvent,
    StripeInvoice,
    UsageEvent,
    UsageStatement,
)
from catalog.models import SyncRun
from generation.instructions import ensure_default_library
from generation.models import (
    BannedWord,
    BrandVoice,
    GenerationItem,
    GenerationJob,
    InstructionVersion,
    ModelNode,
    ModelRequestLog,
    TenantBannedWord,
)
from images.models import ImageNode
from review.models import Review
from stores.models import Store
from tenants import api_keys
from tenants.models import ApiKey, Invitation, Membership, Tenant
from tenants.roles import TenantRole
from tenants.scope import tenant_scope
from tests.conftest import client_for
from tests.portal.conftest import (
    ALPHA_INVITEE_EMAIL,
    ALPHA_OWNER_EMAIL,
    ALPHA_REVIEWER_EMAIL,
    ALPHA_SHOP_ID,
    ALPHA_STORE_NAME,
    TenantWorld,
)

API_PREFIX = "api/v1/"
# DRF adds a ".json" twin to every API route; its parameters are the base route's plus format.
FORMAT_SUFFIX = "\\.(?P<format>[a-z0-9]+)/?$"

# --------------------------------------------------------------------------------------------
# Where each parameterised route points: always at tenant A's objects (or, for routes that do
# not take tenant data, at something harmless). ADD AN ENTRY HERE FOR EVERY NEW ROUTE WITH
# PARAMETERS: the walk refuses to run a route it cannot fill in.
# --------------------------------------------------------------------------------------------

Params = Callable[[TenantWorld], dict[str, object]]

ROUTE_PARAMS: dict[str, Params] = {
    # Seller portal: tenant A's rows, requested from tenant B's session.
    "portal/members/<int:pk>/role/": lambda w: {"pk": w.reviewer_membership.pk},
    "portal/members/<int:pk>/remove/": lambda w: {"pk": w.reviewer_membership.pk},
    "portal/invitations/<int:pk>/revoke/": lambda w: {"pk": w.invitation.pk},
    "portal/api-keys/<int:pk>/revoke/": lambda w: {"pk": w.api_key.pk},
    "portal/company/documents/<int:pk>/": lambda w: {"pk": w.document.pk},
    "portal/stores/<int:pk>/": lambda w: {"pk": w.store.pk},
    "portal/stores/<int:pk>/reauthorize/": lambda w: {"pk": w.store.pk},
    "portal/stores/<int:pk>/revoke/": lambda w: {"pk": w.store.pk},
    "portal/stores/<int:pk>/archive/": lambda w: {"pk": w.store.pk},
    "portal/catalog/stores/<int:store_id>/sync/": lambda w: {"store_id": w.store.pk},
    "portal/catalog/sync-runs/<int:pk>/progress/": lambda w: {"pk": w.sync_run.pk},
    "portal/usage/statements/<int:pk>/": lambda w: {"pk": w.statement.pk},
    "portal/images/products/<int:pk>/": lambda w: {"pk": w.product.pk},
    "portal/images/generated/<int:pk>/<str:decision>/":
        lambda w: {"pk": w.generated_image.pk, "decision": "approve"},
    "portal/images/files/<str:kind>/<int:pk>/":
        lambda w: {"kind": "generated", "pk": w.generated_image.pk},
    "portal/review/<int:pk>/": lambda w: {"pk": w.review.pk},
    "portal/review/<int:pk>/approve/": lambda w: {"pk": w.review.pk},
    "portal/review/<int:pk>/edit/": lambda w: {"pk": w.review.pk},
    "portal/review/<int:pk>/reject/": lambda w: {"pk": w.review.pk},
    "portal/review/<int:pk>/regenerate/": lambda w: {"pk": w.review.pk},
    "portal/review/<int:pk>/publish/": lambda w: {"pk": w.review.pk},
    "portal/usage/statements/<int:pk>/export/<str:fmt>/":
        lambda w: {"pk": w.statement.pk, "fmt": "csv"},
    # ISV console: tenant A's slug.
    "console/tenants/<slug:slug>/": lambda w: {"slug": w.tenant.slug},
    "console/tenants/<slug:slug>/documents/<int:pk>/":
        lambda w: {"slug": w.tenant.slug, "pk": w.document.pk},
    "console/tenants/<slug:slug>/<str:action>/":
        lambda w: {"slug": w.tenant.slug, "action": "suspend"},
    # ISV console, finance: tenant A's statement.
    "console/finance/statements/<int:pk>/": lambda w: {"pk": w.statement.pk},
    "console/finance/statements/<int:pk>/status/": lambda w: {"pk": w.statement.pk},
    "console/finance/statements/<int:pk>/comment/": lambda w: {"pk": w.statement.pk},
    "console/finance/statements/<int:pk>/pay/": lambda w: {"pk": w.statement.pk},
    "console/finance/statements/<int:pk>/export/<str:fmt>/":
        lambda w: {"pk": w.statement.pk, "fmt": "xlsx"},
    # Links sent by e-mail: the secret in the URL is the credential.
    "invitations/<str:token>/": lambda w: {"token": w.invitation_token},
    "accounts/^confirm-email/(?P<key>[-:\\w]+)/$": lambda w: {"key": w.email_confirmation_key},
    "accounts/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$":
        lambda w: {"uidb36": w.password_reset_uidb36, "key": w.password_reset_key},
    # API.
    "api/v1/^members/(?P<pk>[^/.]+)/$": lambda w: {"pk": w.owner_membership.pk},
    "api/v1/^products/(?P<pk>[^/.]+)/$": lambda w: {"pk": w.product.pk},
    "api/v1/^sync-runs/(?P<pk>[^/.]+)/$": lambda w: {"pk": w.sync_run.pk},
    "api/v1/^stores/(?P<pk>[^/.]+)/$": lambda w: {"pk": w.store.pk},
    "api/v1/^stores/(?P<pk>[^/.]+)/reauthorize/$": lambda w: {"pk": w.store.pk},
    "api/v1/^stores/(?P<pk>[^/.]+)/revoke/$": lambda w: {"pk": w.store.pk},
    "api/v1/^stores/(?P<pk>[^/.]+)/archive/$": lambda w: {"pk": w.store.pk},
    "api/v1/^subscriptions/(?P<pk>[^/.]+)/$": lambda w: {"pk": w.subscription.pk},
    "api/v1/^usage/today/(?P<pk>[^/.]+)/$": lambda w: {"pk": w.store.pk},
    "api/v1/^reviews/(?P<pk>[^/.]+)/$": lambda w: {"pk": w.review.pk},
    "api/v1/^reviews/(?P<pk>[^/.]+)/approve/$": lambda w: {"pk": w.review.pk},
    "api/v1/^reviews/(?P<pk>[^/.]+)/edit/$": lambda w: {"pk": w.review.pk},
    "api/v1/^reviews/(?P<pk>[^/.]+)/reject/$": lambda w: {"pk": w.review.pk},
    "api/v1/^reviews/(?P<pk>[^/.]+)/history/$": lambda w: {"pk": w.review.pk},
    "api/v1/^reviews/(?P<pk>[^/.]+)/regenerate/$": lambda w: {"pk": w.review.pk},
    # Django admin (besides the per-model routes generated from ADMIN_OBJECTS below).
    "admin/r/<path:content_type_id>/<path:object_id>/": lambda w: {
        "content_type_id": ContentType.objects.get_for_model(Tenant).pk,
        "object_id": w.tenant.pk},
    "admin/tenants/user/<id>/password/": lambda w: {"id": w.owner.pk},
    "admin/(?P<url>.*)$": lambda w: {"url": "tenants/no-such-page/"},
}

def _settled_call(world: TenantWorld) -> UsageEvent:
    """One AI call of tenant A's store, charged in the ledger (idempotent: made once)."""
    quota.reserve_call(world.store, "url-walk-item")
    return quota.settle_call("url-walk-item")


# Generation jobs (seller side): tenant A's job, its item and an own banned word, made once.
def _generation_job(world: TenantWorld) -> GenerationJob:
    job = GenerationJob.unscoped.filter(tenant=world.tenant).first()
    if job is None:
        job = GenerationJob.unscoped.create(
            tenant=world.tenant, store=world.store, created_by=world.owner, kinds=["title"],
            languages=["en"], status=GenerationJob.Status.RUNNING, items_total=1)
    return job


def _generation_item(world: TenantWorld) -> GenerationItem:
    job = _generation_job(world)
    item = GenerationItem.unscoped.filter(job=job).first()
    if item is None:
        item = GenerationItem.unscoped.create(
            tenant=world.tenant, job=job, store=world.store, product=world.product,
            kind="title", language="en")
    return item


def _own_banned_word(world: TenantWorld) -> TenantBannedWord:
    word, _created = TenantBannedWord.unscoped.get_or_create(
        tenant=world.tenant, marketplace="", language="", term="alpha-walk-banned-word")
    return word


def _request_log(world: TenantWorld) -> ModelRequestLog:
    item = _generation_item(world)
    log = ModelRequestLog.unscoped.filter(item=item).first()
    if log is None:
        log = ModelRequestLog.unscoped.create(
            tenant=world.tenant, store=world.store, job=item.job, item=item,
            node_name="url-walk node", attempt=1, started_at=timezone.now(), latency_ms=1)
    return log


def _job_routes() -> dict[str, Params]:
    job: Params = lambda w: {"pk": _generation_job(w).pk}  # noqa: E731
    item: Params = lambda w: {"pk": _generation_item(w).pk}  # noqa: E731
    routes: dict[str, Params] = {
        "portal/jobs/<int:pk>/": job,
        "portal/jobs/<int:pk>/progress/": job,
        "portal/jobs/<int:pk>/cancel/": job,
        "portal/jobs/<int:pk>/retry/": job,
        "portal/jobs/settings/banned-words/<int:pk>/delete/":
            lambda w: {"pk": _own_banned_word(w).pk},
        "api/v1/^jobs/(?P<pk>[^/.]+)/$": job,
        "api/v1/^job-items/(?P<pk>[^/.]+)/$": item,
    }
    for name in ("cancel", "retry-failed", "retry-plan", "items"):
        routes[f"api/v1/^jobs/(?P<pk>[^/.]+)/{name}/$"] = job
    return routes


ROUTE_PARAMS.update(_job_routes())


# Effects: tenant A's listing with AI content (its first publish), made once.
def _effect_listing(world: TenantWorld) -> Params:
    from effects.models import EffectListing

    listing, _created = EffectListing.unscoped.get_or_create(
        tenant=world.tenant, store=world.store, marketplace_id=world.product.marketplace_id,
        defaults={"product": world.product, "first_published_at": timezone.now(),
                  "publish_day": timezone.localdate(), "content_kind": "title"})
    return {"pk": listing.pk}


ROUTE_PARAMS.update({
    "portal/effects/stores/<int:pk>/": lambda w: {"pk": w.store.pk},
    "portal/effects/listings/<int:pk>/": _effect_listing,
    "api/v1/^effects/listings/(?P<pk>[^/.]+)/$": _effect_listing,
    "portal/effects/experiments/<int:pk>/": lambda w: _experiment(w),  # defined below
    "api/v1/^effects/experiments/(?P<pk>[^/.]+)/$": lambda w: _experiment(w),
})


def _experiment(world: TenantWorld) -> Params:
    from effects.models import Experiment, ExperimentAssignment

    experiment = Experiment.unscoped.filter(tenant=world.tenant).first()
    if experiment is None:
        ensure_default_library()
        experiment = Experiment.unscoped.create(
            tenant=world.tenant, store=world.store, name="Alpha walk experiment",
            content_kind="title", version_b=InstructionVersion.objects.first(),
            starts_on=timezone.localdate(), planned_days=14, seed="0123abcd",
            created_by=world.owner)
        ExperimentAssignment.unscoped.create(tenant=world.tenant, experiment=experiment,
                                             product=world.product, arm="b",
                                             marketplace_id=world.product.marketplace_id)
    return {"pk": experiment.pk}


# ISV staff's generation console: nodes, the prompt library and the ISV banned words are not
# tenant data, but the pages must stay closed to sellers; diagnose opens tenant A's job.
def _model_node(world: TenantWorld) -> ModelNode:
    node, _created = ModelNode.objects.get_or_create(
        name="url-walk node", defaults={"base_url": "http://127.0.0.1:9/v1",
                                        "model_name": "deepseek-chat", "api_key": "sk-walk"})
    return node


def _instruction_version(world: TenantWorld) -> InstructionVersion:
    ensure_default_library()
    return InstructionVersion.objects.order_by("pk").first()


def _isv_banned_word(world: TenantWorld) -> BannedWord:
    word, _created = BannedWord.objects.get_or_create(marketplace="", language="",
                                                      term="url-walk banned")
    return word


def _stripe_customer(world: TenantWorld) -> StripeCustomer:
    customer, _created = StripeCustomer.unscoped.get_or_create(
        tenant=world.tenant, defaults={"stripe_customer_id": "cus_urlwalk"})
    return customer


def _stripe_invoice(world: TenantWorld) -> StripeInvoice:
    invoice, _created = StripeInvoice.unscoped.get_or_create(
        tenant=world.tenant, stripe_invoice_id="in_urlwalk")
    return invoice


def _stripe_event(world: TenantWorld) -> StripeEvent:
    event, _created = StripeEvent.objects.get_or_create(
        event_id="evt_urlwalk", defaults={"type": "invoice.paid", "tenant": world.tenant})
    return event


_node: Params = lambda w: {"pk": _model_node(w).pk}  # noqa: E731
_version: Params = lambda w: {"pk": _instruction_version(w).pk}  # noqa: E731
ROUTE_PARAMS.update({
    "console/model-nodes/<int:pk>/": _node,
    "console/model-nodes/<int:pk>/toggle/": _node,
    "console/model-nodes/<int:pk>/reset/": _node,
    "console/model-nodes/<int:pk>/test/": _node,
    "console/instructions/<int:pk>/":
        lambda w: {"pk": _instruction_version(w).instruction_set_id},
    "console/instructions/<int:pk>/draft/":
        lambda w: {"pk": _instruction_version(w).instruction_set_id},
    "console/instructions/versions/<int:pk>/": _version,
    "console/instructions/versions/<int:pk>/test/": _version,
    "console/instructions/versions/<int:pk>/publish/": _version,
    "console/instructions/versions/<int:pk>/retire/": _version,
    "console/banned-words/<int:pk>/delete/": lambda w: {"pk": _isv_banned_word(w).pk},
    "console/jobs/<int:pk>/diagnose/": lambda w: {"pk": _generation_job(w).pk},
    "console/evaluation-sets/<int:pk>/": lambda w: {"pk": _evaluation_run(w).evaluation_set_id},
    "console/evaluation-runs/<int:pk>/": lambda w: {"pk": _evaluation_run(w).pk},
})


def _evaluation_run(world: TenantWorld):
    from generation.models import EvaluationRun, EvaluationSet

    chosen, _created = EvaluationSet.objects.get_or_create(
        name="url-walk set", defaults={"cases": [{"sku": "w", "product": {"title": "Mug"},
                                                  "references": {}}]})
    found = EvaluationRun.objects.filter(evaluation_set=chosen).first()
    return found or EvaluationRun.objects.create(version=_instruction_version(world),
                                                 evaluation_set=chosen, languages=["en"])


# The object of tenant A each admin model's change/delete/history pages are opened for.
# A model newly registered in the admin needs an entry here.
ADMIN_OBJECTS: dict[str, Callable[[TenantWorld], object]] = {
    "tenants/tenant": lambda w: w.tenant.pk,
    "tenants/user": lambda w: w.owner.pk,
    "tenants/membership": lambda w: w.owner_membership.pk,
    "tenants/invitation": lambda w: w.invitation.pk,
    "tenants/apikey": lambda w: w.api_key.pk,
    "tenants/verificationdocument": lambda w: w.document.pk,
    "audit/auditevent": lambda w: AuditEvent.unscoped.filter(tenant=w.tenant).first().pk,
    "stores/store": lambda w: w.store.pk,
    "billing/quotapack": lambda w: w.subscription.pack_version.pack_id,
    "billing/storesubscription": lambda w: w.subscription.pk,
    "billing/usageevent": lambda w: _settled_call(w).pk,
    "billing/dailyusage": lambda w: DailyUsage.unscoped.get(store=_settled_call(w).store).pk,
    "billing/reservation": lambda w: Reservation.unscoped.get(
        item_key=_settled_call(w).item_key).pk,
    "billing/stripecustomer": lambda w: _stripe_customer(w).pk,
    "billing/stripeinvoice": lambda w: _stripe_invoice(w).pk,
    "billing/stripeevent": lambda w: _stripe_event(w).pk,
    "generation/modelnode": lambda w: _model_node(w).pk,
    "generation/instructionset": lambda w: _instruction_version(w).instruction_set_id,
    "generation/instructionversion": lambda w: _instruction_version(w).pk,
    "generation/bannedword": lambda w: _isv_banned_word(w).pk,
    "generation/tenantbannedword": lambda w: _own_banned_word(w).pk,
    "generation/brandvoice": lambda w: BrandVoice.unscoped.get_or_create(
        tenant=w.tenant, defaults={"notes": "alpha-walk brand voice"})[0].pk,
    "generation/generationjob": lambda w: _generation_job(w).pk,
    "generation/generationitem": lambda w: _generation_item(w).pk,
    "generation/modelrequestlog": lambda w: _request_log(w).pk,
    "images/imagenode": lambda w: ImageNode.objects.get_or_create(node=_model_node(w))[0].pk,
    "account/emailaddress": lambda w: w.owner.emailaddress_set.get().pk,
    "mfa/authenticator": lambda w: Authenticator.objects.get(user=w.owner).pk,
    # Not tenant data; the pages must still be closed to sellers.
    "auth/group": lambda w: 1,
    "django_q/schedule": lambda w: 1,
    "django_q/success": lambda w: 1,
    "django_q/failure": lambda w: 1,
    "django_q/ormq": lambda w: 1,
}

# The admin's app index lists, in its pattern, every app with a model in the admin (as
# django.contrib.admin.AdminSite.get_urls builds it), so the pattern follows the registry.
_ADMIN_APP_LABELS = list(dict.fromkeys(m._meta.app_label for m in admin_site._registry))
ROUTE_PARAMS[f"admin/^(?P<app_label>{'|'.join(_ADMIN_APP_LABELS)})/$"] = (
    lambda w: {"app_label": "tenants"})

for _model in ADMIN_OBJECTS:
    for _suffix in ("history/", "delete/", "change/", ""):
        ROUTE_PARAMS[f"admin/{_model}/<path:object_id>/{_suffix}"] = (
            lambda w, _m=_model: {"object_id": ADMIN_OBJECTS[_m](w)})

# Routes that anyone may open without signing in (allauth's entrance pages, the health check,
# the language switch, the API's schema and docs, the invitation link). Keep this list short.
PUBLIC_ROUTES = {
    "account_login",
    "account_signup",
    "account_reset_password",
    "account_reset_password_done",
    "account_reset_password_from_key",
    "account_reset_password_from_key_done",
    "account_confirm_email",  # the e-mailed verification link
    "account_email_verification_sent",
    "account_inactive",
    "healthz",
    # Readiness tells only which dependencies answer (no tenant data); metrics answer 404
    # without the scraper's bearer token (tests/operations).
    "readyz",
    "metrics",
    "set_language",
    "api_schema",
    "api_docs",
    "invitation_accept",
    "company_signup",  # a seller signs the company up (allauth's sign-up rate limit applies)
    # Stripe's webhook: public by necessity (Stripe cannot sign in), but every request must
    # carry a valid, fresh Stripe signature; unsigned requests answer 400 and change nothing.
    "stripe_webhook",
}

# Public routes that believe only a signed request (the Stripe webhook): without a valid
# signature they refuse with 400 and change nothing, which is the right answer to outsiders.
SIGNATURE_ROUTES = {"stripe_webhook"}

# API actions on a collection that name no object in their URL: the walk's empty POST is
# invalid input, so 400 is the right answer (the body is still checked for tenant A's data).
INPUT_ROUTES = {"job-estimate", "review-bulk-approve", "review-publish"}

# Routes whose URL carries a secret issued for tenant A (an e-mailed link): whoever holds
# the link may see what it is for, so tenant A's markers are allowed there.
CREDENTIAL_ROUTES = {
    "invitation_accept",
    "account_confirm_email",
    "account_reset_password_from_key",
}


def route_params(route: str) -> Params | None:
    """ROUTE_PARAMS' entry for the route; a format twin ("api/v1/^x\\.(?P<format>...)") takes
    its base route's ("api/v1/^x/$") plus format=json. None: the route is not mapped."""
    if route in ROUTE_PARAMS or not route.endswith(FORMAT_SUFFIX):
        return ROUTE_PARAMS.get(route)
    base = route.removesuffix(FORMAT_SUFFIX) + "/$"
    if base in ROUTE_PARAMS:
        base_params = ROUTE_PARAMS[base]
    elif "(?P<" not in base:  # a list or collection route: no other parameter
        base_params = lambda w: {}  # noqa: E731
    else:
        return None
    return lambda w: {**base_params(w), "format": "json"}


# --------------------------------------------------------------------------------------------
# Enumerating routes
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    route: str  # the pattern text through every include, e.g. "portal/members/<int:pk>/role/"
    name: str  # namespaced URL name, "" when unnamed
    url_format: str  # e.g. "portal/members/%(pk)s/role/"
    params: tuple[str, ...]
    callback: Callable

    @property
    def is_api(self) -> bool:
        return self.route.startswith(API_PREFIX)

    @property
    def label(self) -> str:
        return f"{self.route!r} ({self.name or 'unnamed'})"

    def url(self, world: TenantWorld) -> str:
        values = route_params(self.route)(world) if self.params else {}
        return "/" + self.url_format % {k: str(v) for k, v in values.items()}


def _format_of(pattern) -> tuple[str, list[str]]:
    url_format, params = normalize(pattern.regex.pattern)[0]
    return url_format, list(params)


def _walk(resolver: URLResolver, route="", url_format="", params=(),
          namespace=()) -> Iterator[Route]:
    for entry in resolver.url_patterns:
        piece_format, piece_params = _format_of(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = (*namespace, entry.namespace) if entry.namespace else namespace
            yield from _walk(entry, route + str(entry.pattern), url_format + piece_format,
                             (*params, *piece_params), ns)
        elif isinstance(entry, URLPattern):
            name = ":".join((*namespace, entry.name)) if entry.name else ""
            yield Route(route + str(entry.pattern), name, url_format + piece_format,
                        (*params, *piece_params), entry.callback)


def all_routes() -> list[Route]:
    return list(_walk(get_resolver()))


def unmapped(routes: list[Route]) -> list[Route]:
    return [r for r in routes if r.params and route_params(r.route) is None]


# --------------------------------------------------------------------------------------------
# Requesting and judging
# --------------------------------------------------------------------------------------------

LOGIN_PATH = "/accounts/login/"


def _request(client: Client, url: str, **extra):
    """GET, and POST when the route only takes POST. Returns (method, response)."""
    response = client.get(url, **extra)
    if response.status_code == 405:
        return "POST", client.post(url, **extra)
    return "GET", response


def _leaks(body: bytes, world: TenantWorld) -> list[str]:
    text = body.decode("utf-8", errors="replace")
    return [m for m in world.markers if m in text]


def _follow(client: Client, response, **extra):
    """Follow a redirect chain within the site; returns (final response, visited paths)."""
    visited = []
    for _hop in range(6):
        if response.status_code not in (301, 302, 303, 307, 308):
            break
        location = urlsplit(response["Location"])
        if location.netloc and location.netloc != "testserver":
            break  # leaves the site: nothing of ours to read
        visited.append(location.path)
        target = location.path + (f"?{location.query}" if location.query else "")
        response = client.get(target, **extra)
    return response, visited


def _judge_outsider(client: Client, route: Route, world: TenantWorld, **extra) -> str | None:
    """Someone who is not tenant A: 404, 403 or a redirect, or a page without A's data."""
    url = route.url(world)
    method, response = _request(client, url, **extra)
    return _judge_outsider_response(client, route, world, url, method, response, **extra)


def _judge_outsider_response(client, route, world, url, method, response, **extra):
    status = response.status_code
    if status == 400 and route.name in SIGNATURE_ROUTES:
        return None
    if status == 400 and route.name in INPUT_ROUTES:
        leaked = _leaks(response.content, world)
        return f"{method} {url} -> 400 shows tenant A's data: {leaked}" if leaked else None
    if status not in (200, 301, 302, 303, 307, 308, 403, 404):
        return f"{method} {url} -> {status} (expected 404, 403, a redirect or a clean 200)"
    final, visited = _follow(client, response, **extra)
    if final.status_code >= 500:
        return f"{method} {url} -> redirect chain {visited} ends in {final.status_code}"
    if route.name in CREDENTIAL_ROUTES:
        return None
    body = final.content if not getattr(final, "streaming", False) else b"".join(
        final.streaming_content)
    leaked = _leaks(body, world)
    if leaked:
        return f"{method} {url} -> {status} {visited} shows tenant A's data: {leaked}"
    return None


def _judge_anonymous(client: Client, route: Route, world: TenantWorld, **extra) -> str | None:
    """Nobody signed in: the login page (pages), 401 (API), or a public route."""
    url = route.url(world)
    method, response = _request(client, url, **extra)
    status = response.status_code
    if route.name in PUBLIC_ROUTES:
        if status >= 500 or status == 405:
            return f"{method} {url} -> {status} (public route must answer)"
        return _judge_outsider_response(client, route, world, url, method, response, **extra)
    if route.is_api:
        if status != 401:
            return f"{method} {url} -> {status} (expected 401 for an anonymous API call)"
        if not response["Content-Type"].startswith("application/json") or \
                set(response.json()) != {"code", "message", "details"}:
            return f"{method} {url} -> 401 with body {response.content[:200]!r}"
        return None
    if status not in (301, 302, 303, 307, 308):
        return f"{method} {url} -> {status} (expected a redirect to {LOGIN_PATH})"
    final, visited = _follow(client, response, **extra)
    if not visited or visited[-1] != LOGIN_PATH or final.status_code != 200:
        return (f"{method} {url} -> redirects via {visited} to {final.status_code}, "
                f"not to the login page {LOGIN_PATH}")
    return None


def _walk_and_collect(routes, judge, make_client, world) -> list[str]:
    failures = []
    for route in routes:
        if route.params and route_params(route.route) is None:
            failures.append(f"{route.label}: not in ROUTE_PARAMS; add it to "
                            f"tests/portal/test_url_walk.py pointing at tenant A's objects")
            continue
        client, extra = make_client()
        problem = judge(client, route, world, **extra)
        if problem:
            failures.append(f"{route.label}: {problem}")
    return failures


def _report(failures: list[str]) -> str:
    return f"{len(failures)} route(s) failed the isolation walk:\n  " + "\n  ".join(failures)


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------

@pytest.fixture
def world(world_a) -> TenantWorld:
    TOTP.activate(world_a.owner, generate_totp_secret())  # so the admin's MFA pages have a row
    return world_a


@pytest.fixture
def raw_key_b(tenant_b, owner_b) -> str:
    with tenant_scope(tenant_b):
        return api_keys.create_api_key(created_by=owner_b, name="Beta ERP",
                                       role=TenantRole.OWNER).raw_key


def _snapshot(world: TenantWorld) -> dict:
    tenant = Tenant.objects.get(pk=world.tenant.pk)
    return {
        "tenant": (tenant.name, tenant.status, tenant.licence_number, tenant.suspension_reason),
        "memberships": sorted(Membership.unscoped.filter(tenant=tenant)
                              .values_list("user__email", "role")),
        "invitation": Invitation.unscoped.get(pk=world.invitation.pk).status,
        "api_key_revoked": ApiKey.unscoped.get(pk=world.api_key.pk).revoked_at,
        "sync_runs": sorted(SyncRun.unscoped.filter(tenant=tenant).values_list("pk", "status")),
        "reviews": sorted(Review.unscoped.filter(tenant=tenant)
                          .values_list("pk", "status", "publish_pending")),
        "store": Store.unscoped.filter(pk=world.store.pk).values_list(
            "status", "access_token", "token_expires_at", "display_name").get(),
        "subscriptions": sorted(StoreSubscription.unscoped.filter(tenant=tenant).values_list(
            "pk", "status", "daily_overage_cap", "pack_version_id")),
        "statements": sorted(UsageStatement.unscoped.filter(tenant=tenant).values_list(
            "pk", "status", "total")),
    }


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------

def test_the_walk_finds_every_part_of_the_site():
    routes = {r.route for r in all_routes()}
    for expected in ("portal/members/", "console/tenants/<slug:slug>/", "api/v1/me/",
                     "api/v1/^members/$", "accounts/login/", "admin/tenants/tenant/",
                     "invitations/<str:token>/", "healthz", "i18n/setlang/"):
        assert expected in routes, f"the route walk missed {expected!r}"


def test_every_route_with_parameters_is_mapped_to_tenant_a():
    missing = unmapped(all_routes())
    assert not missing, (
        "These routes take parameters but tests/portal/test_url_walk.py does not say which of "
        "tenant A's objects to point them at; add them to ROUTE_PARAMS (or ADMIN_OBJECTS):\n  "
        + "\n  ".join(r.label for r in missing))


def test_route_params_has_no_stale_entries():
    routes = {r.route for r in all_routes()}
    stale = sorted(set(ROUTE_PARAMS) - routes)
    assert not stale, f"ROUTE_PARAMS names routes that no longer exist: {stale}"


def test_built_urls_resolve_back_to_their_own_route(world):
    wrong = []
    for route in all_routes():
        if route.params and route_params(route.route) is None:
            continue
        url = route.url(world)
        match = resolve(url)
        if match.func != route.callback:
            wrong.append(f"{route.label}: {url} resolves to {match.route!r}")
    assert not wrong, "\n".join(wrong)


def test_tenant_a_sees_its_own_markers(world):
    """The positive control: the marker strings really appear where tenant A looks."""
    client = client_for(world.owner, world.tenant)
    members = client.get(reverse("members")).content.decode()
    for marker in (world.tenant.name, ALPHA_OWNER_EMAIL, ALPHA_REVIEWER_EMAIL, ALPHA_INVITEE_EMAIL):
        assert marker in members
    company = client.get(reverse("company")).content.decode()
    assert world.tenant.licence_number in company
    keys = client.get(reverse("api_keys")).content.decode()
    assert "Alpha ERP" in keys and f"lk_{world.api_key.prefix}_" in keys
    stores = client.get(reverse("stores")).content.decode()
    assert ALPHA_STORE_NAME in stores and ALPHA_SHOP_ID in stores
    detail = client.get(reverse("store_detail", args=[world.store.pk])).content.decode()
    assert ALPHA_STORE_NAME in detail
    download = client.get(reverse("company_document", args=[world.document.pk]))
    assert _leaks(b"".join(download.streaming_content), world) == ["alpha licence scan"]


def test_owner_of_another_tenant_never_sees_tenant_a(world, tenant_b, owner_b):
    before = _snapshot(world)
    failures = _walk_and_collect(all_routes(), _judge_outsider,
                                 lambda: (client_for(owner_b, tenant_b), {}), world)
    assert not failures, _report(failures)
    assert _snapshot(world) == before, "tenant B's requests changed tenant A's data"


def test_anonymous_visitors_are_sent_to_sign_in(world):
    before = _snapshot(world)
    failures = _walk_and_collect(all_routes(), _judge_anonymous, lambda: (Client(), {}), world)
    assert not failures, _report(failures)
    assert _snapshot(world) == before, "anonymous requests changed tenant A's data"


def test_tenant_b_api_key_never_reaches_tenant_a(world, raw_key_b):
    """Every route with tenant B's key and no session: the API answers only about tenant B;
    pages are not opened by a key (it is for programs), so they behave as for anonymous."""
    before = _snapshot(world)
    header = {"HTTP_AUTHORIZATION": f"Api-Key {raw_key_b}"}

    def judge(client, route, w, **extra):
        if route.is_api:
            return _judge_outsider(client, route, w, **extra)
        return _judge_anonymous(client, route, w, **extra)

    failures = _walk_and_collect(all_routes(), judge, lambda: (Client(), header), world)
    assert not failures, _report(failures)
    assert _snapshot(world) == before, "tenant B's API key changed tenant A's data"


def test_a_key_of_tenant_a_does_not_open_pages_to_tenant_b(world, tenant_b, owner_b):
    """Tenant B's owner, signed in, sends tenant A's API key along: pages must still be
    tenant B's (a key is for the API, not a way into another company's portal)."""
    header = {"HTTP_AUTHORIZATION": f"Api-Key {world.raw_api_key}"}
    pages = [r for r in all_routes() if not r.is_api]
    failures = _walk_and_collect(pages, _judge_outsider,
                                 lambda: (client_for(owner_b, tenant_b), header), world)
    assert not failures, _report(failures)


def test_tenant_b_api_key_lists_only_tenant_b(world, tenant_b, owner_b, raw_key_b):
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {raw_key_b}")
    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["tenant_slug"] == tenant_b.slug
    members = client.get("/api/v1/members/").json()
    assert [m["email"] for m in members["results"]] == [owner_b.email]
    detail = client.get(f"/api/v1/members/{world.owner_membership.pk}/")
    assert detail.status_code == 404
    assert detail.json()["code"] == "not_found"


def test_tenant_a_api_key_is_the_control(world):
    """The same requests with tenant A's own key do show tenant A: the walk is not blind."""
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {world.raw_api_key}")
    detail = client.get(f"/api/v1/members/{world.owner_membership.pk}/")
    assert detail.status_code == 200
    assert detail.json()["email"] == ALPHA_OWNER_EMAIL


def test_a_forged_invitation_token_is_not_found(tenant_b, owner_b, world):
    response = client_for(owner_b, tenant_b).get("/invitations/not-a-real-token/")
    assert response.status_code == 404
    assert not _leaks(response.content, world)


def test_owner_b_posting_to_tenant_a_objects_gets_404(world, tenant_b, owner_b):
    client = client_for(owner_b, tenant_b)
    for name, pk in (("member_role", world.reviewer_membership.pk),
                     ("member_remove", world.reviewer_membership.pk),
                     ("invitation_revoke", world.invitation.pk),
                     ("api_key_revoke", world.api_key.pk),
                     ("store_revoke", world.store.pk),
                     ("store_archive", world.store.pk),
                     ("store_reauthorize", world.store.pk)):
        response = client.post(reverse(name, args=[pk]), {"role": TenantRole.VIEWER})
        assert response.status_code == 404, f"{name} -> {response.status_code}"
    assert client.get(reverse("company_document", args=[world.document.pk])).status_code == 404
    switched = client.post(reverse("switch_tenant"), {"tenant_id": world.tenant.pk})
    assert switched.status_code == 403
    assert Membership.unscoped.get(pk=world.reviewer_membership.pk).role == TenantRole.REVIEWER


def test_owner_b_cannot_open_tenant_a_statements(world, tenant_b, owner_b):
    client = client_for(owner_b, tenant_b)
    pk = world.statement.pk
    assert client_for(world.owner, world.tenant).get(
        reverse("statement", args=[pk])).status_code == 200  # the positive control
    for url in (reverse("statement", args=[pk]),
                reverse("statement_export", args=[pk, "csv"]),
                reverse("statement_export", args=[pk, "xlsx"])):
        assert client.get(url).status_code == 404, url
    assert client.get(reverse("finance_statement", args=[pk])).status_code == 403


# The walk's own tests: with routes that leak added to the site, it must fail and say where.

LEAKY = "portal/leaky/<int:pk>/"


@pytest.mark.urls("tests.portal.leaky_urls")
def test_walk_reports_a_route_missing_from_the_mapping():
    missing = [r.label for r in unmapped(all_routes())]
    assert missing == ["'portal/leaky/<int:pk>/' (leaky_member)",
                       "'portal/widgets/<str:code>/' (unmapped_widget)"]


@pytest.mark.urls("tests.portal.leaky_urls")
def test_walk_catches_a_leak_and_names_the_route(world, tenant_b, owner_b, monkeypatch):
    monkeypatch.setitem(ROUTE_PARAMS, LEAKY, lambda w: {"pk": w.owner_membership.pk})
    failures = _walk_and_collect(all_routes(), _judge_outsider,
                                 lambda: (client_for(owner_b, tenant_b), {}), world)
    assert len(failures) == 2, failures
    assert failures[0].startswith(f"{LEAKY!r} (leaky_member): GET /portal/leaky/")
    assert f"shows tenant A's data: [{ALPHA_OWNER_EMAIL!r}]" in failures[0]
    assert re.match(r"'portal/widgets/<str:code>/' \(unmapped_widget\): not in ROUTE_PARAMS; "
                    r"add it", failures[1])


@pytest.mark.urls("tests.portal.leaky_urls")
def test_walk_catches_a_page_open_to_anonymous_visitors(world, monkeypatch):
    monkeypatch.setitem(ROUTE_PARAMS, LEAKY, lambda w: {"pk": w.owner_membership.pk})
    monkeypatch.setitem(ROUTE_PARAMS, "portal/widgets/<str:code>/", lambda w: {"code": "x"})
    failures = _walk_and_collect(all_routes(), _judge_anonymous, lambda: (Client(), {}), world)
    assert [f.split(": ")[0] for f in failures] == [
        "'portal/open/' (open_page)", "'portal/widgets/<str:code>/' (unmapped_widget)"]
    assert "-> 200 (expected a redirect to /accounts/login/)" in failures[0]


def test_admin_is_registered_as_expected():
    """ADMIN_OBJECTS covers exactly the models registered in the admin."""
    registered = {f"{m._meta.app_label}/{m._meta.model_name}" for m in admin_site._registry}
    assert registered == set(ADMIN_OBJECTS)
