"""Every page, rendered with a job, a store, a review and a statement, in both languages: no
Python repr may reach the HTML.

A template that prints a dict, a list, a QuerySet or a missing value shows `{'bidi': False, ...}`,
`['en', 'es']`, `<QuerySet [...]>` or `None` to the user. The pages come from the resolver with
the parameters of the tenant-isolation walk (tests/portal/test_url_walk.py), opened by the
people who use them: the seller's owner for the portal, a platform admin for the console and the
Django admin.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings
from django.test import Client

from generation.models import GenerationItem, GenerationJob
from review.services import enter_review
from tenants.scope import tenant_scope
from tests.conftest import client_for
from tests.portal.test_url_walk import all_routes, route_params

STAFF_AREAS = ("admin/", "console/")
# Reprs, as the template engine escapes them (and raw, for |safe or non-HTML answers).
REPR_MARKS = ("{&#x27;", "[&#x27;", "&lt;QuerySet", "<QuerySet", "{'", "['", "&lt;built-in",
              "object at 0x", "&lt;bound method")
# A Chinese character followed by an ASCII colon or full stop ("运营:", "已保存."): see
# docs/glossary.md.
CJK_ASCII_PUNCTUATION = re.compile(r"[\u4e00-\u9fff\uff09][:.](?=\s|$|<)")
# "None" as a value: alone, or after a label or before a separator ("Expires: None",
# "None, en"), not the English word opening a sentence ("None ticked: ...").
NONE_VALUE = re.compile(r"^None$|[:：=(（,，]\s*None\b|\bNone\s*[,，)）]")


class _Text(HTMLParser):
    """The visible text and the attribute values (titles, values, placeholders) of a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        attributes = dict(attrs)
        for name, value in attrs:
            if name == "alt" and "/static/admin/img/icon-" in (attributes.get("src") or ""):
                continue  # the Django admin's yes/no/unknown icons say alt="None" themselves
            if value and name in ("title", "value", "placeholder", "aria-label", "alt"):
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def repr_problems(html: str) -> list[str]:
    found = [f"{mark!r} near …{html[max(0, i - 60):i + 80]!r}…"
             for mark in REPR_MARKS if (i := html.find(mark)) >= 0]
    parser = _Text()
    parser.feed(html)
    found += [f"'None' in {text[:120]!r}" for text in parser.parts if NONE_VALUE.search(text)]
    return found


# Variants docs/glossary.md forbids anywhere on a Chinese page (the catalogue test checks the
# ones that depend on the English; these need none).
PAGE_VARIANTS = re.compile(r"帐户|帐号|商品目录|提示词|发票")


def variant_problems(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return [f"glossary variant in {text[:120]!r}" for text in parser.parts
            if PAGE_VARIANTS.search(text) or CJK_ASCII_PUNCTUATION.search(text)]


def test_the_check_catches_reprs():
    assert repr_problems("<p>{&#x27;bidi&#x27;: False}</p>")
    assert repr_problems("<p>&lt;QuerySet [&lt;Store: x&gt;]&gt;</p>")
    assert repr_problems("<td>None</td>")
    assert repr_problems('<input value="None">')
    assert repr_problems("<dd>Expires: None</dd>")
    assert not repr_problems("<p>No stores yet.</p><script>if (x === None) {}</script>")
    assert not repr_problems("<p>None ticked: everything the role allows.</p>")
    assert variant_problems("<p>您的帐户</p>") and variant_problems("<span>店铺: x</span>")
    assert not variant_problems("<span>店铺：Temu: x</span>")


@pytest.fixture
def world(world_a):
    """Tenant A's world, plus a job in two languages with a review in Spanish."""
    TOTP.activate(world_a.owner, generate_totp_secret())  # the admin's MFA pages have a row
    with tenant_scope(world_a.tenant):
        job = GenerationJob.objects.create(
            store=world_a.store, created_by=world_a.owner, kinds=["title", "bullet_points"],
            languages=["en", "es"], status=GenerationJob.Status.COMPLETED, items_total=2,
            items_succeeded=2)
        GenerationItem.objects.create(job=job, store=world_a.store, product=world_a.product,
                                      kind="title", language="en",
                                      status=GenerationItem.Status.READY,
                                      content={"title": "Linen lantern"})
        item = GenerationItem.objects.create(
            job=job, store=world_a.store, product=world_a.product, kind="bullet_points",
            language="es", status=GenerationItem.Status.READY,
            content={"bullet_points": ["Lino natural", "Luz cálida"]})
        enter_review(item)
    world_a.two_language_job = job
    return world_a


def _pages():
    return [r for r in all_routes() if not r.is_api and r.name not in (
        "set_language", "account_logout", "healthz", "readyz", "metrics", "stripe_webhook")]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_no_page_shows_a_python_repr(world, platform_admin, language):
    owner = client_for(world.owner, world.tenant)
    admin = client_for(platform_admin)
    failures, opened = [], 0
    job_detail = f"/portal/jobs/{world.two_language_job.pk}/"
    urls = []
    for route in _pages():
        if route.params and not route_params(route.route):
            continue
        urls.append((route, route.url(world)))
    urls.append((None, job_detail))
    for route, url in urls:
        staff = route is not None and route.route.startswith(STAFF_AREAS)
        client: Client = admin if staff else owner
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        response = client.get(url)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        opened += 1
        html = response.content.decode()
        problems = repr_problems(html)
        # Not checked for variants: the Django admin (Django's own words) and the company page
        # (templates/tenants/company.html is being reworked for onboarding; its "Status:" label).
        if language == "zh-hans" and not url.startswith(("/admin/", "/portal/company/")):
            problems += variant_problems(html)
        if problems:
            failures.append(f"GET {url}: " + "; ".join(problems[:3]))
    assert not failures, (f"{len(failures)} page(s) show Python reprs in {language}:\n  "
                          + "\n  ".join(failures))
    assert opened > 60  # the walk really opened pages


def test_the_job_page_names_the_jobs_own_languages(world):
    client = client_for(world.owner, world.tenant)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(f"/portal/jobs/{world.two_language_job.pk}/").content.decode()
    assert "English" in html and "Spanish" in html
    assert "bidi" not in html


def test_languages_and_kinds_are_named_and_listed_in_chinese(world):
    client = client_for(world.owner, world.tenant)
    job = client.get(f"/portal/jobs/{world.two_language_job.pk}/").content.decode()
    assert "英语、西班牙语" in job and "标题、卖点" in job
    store = client.get(f"/portal/stores/{world.store.pk}/").content.decode()
    # Temu US lists in English and Spanish: named, never the raw codes ("Listing 语言: en, es").
    assert "<dt>刊登语言</dt><dd>英语、西班牙语</dd>" in store
