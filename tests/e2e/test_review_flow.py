"""A reviewer takes an AI title from the queue to the marketplace in a real browser: Debian's
Chromium, driven by Playwright, against the live server and the marketplace sandbox.

All database work happens before the browser starts (Playwright's sync API runs an event loop
in this thread, and Django refuses ORM calls from a thread with a running loop); afterwards the
test reads the page and the sandbox's memory only. Publishing runs on Celery, eagerly here,
inside the request that queues it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect, sync_playwright

from sandbox import pool, shops
from tenants.roles import TenantRole
from tests.catalog.conftest import connect_store
from tests.conftest import add_member
from tests.review.conftest import TITLES, Desk, make_job, make_product

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("eager_celery")]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOT = Path("/tmp/review_item.png")


@pytest.fixture
def desk(sandbox, tenant_a, owner_a) -> Desk:
    """Tenant A's store authorized on the marketplace sandbox, with real sandbox goods."""
    store = connect_store(sandbox, tenant_a, owner_a, shops.TEMU_SHOP_300)
    products = [make_product(store, marketplace_id=str(pool.goods_id_for(shops.TEMU_SHOP_300, i)))
                for i in range(2)]
    return Desk(tenant_a, owner_a, add_member(tenant_a, TenantRole.REVIEWER),
                add_member(tenant_a, TenantRole.OPERATOR), store, make_job(store, owner_a),
                products)


def session_cookies(user, tenant, base_url: str) -> list[dict]:
    client = Client()
    client.force_login(user)
    session = client.session
    session["tenant_id"] = tenant.pk
    session.save()
    return [{"name": settings.SESSION_COOKIE_NAME, "value": session.session_key,
             "url": base_url},
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": base_url}]


def test_reviewer_approves_with_a_key_and_publishes_with_the_ai_flag(
        desk, sandbox, live_server):
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's Chromium: apt-get install chromium")
    first = desk.review(0)  # a title for the first sandbox product
    desk.review(1)  # and one more waiting behind it
    cookies = session_cookies(desk.reviewer, desk.tenant, live_server.url)
    title = TITLES[0]
    goods_id = pool.goods_id_for(shops.TEMU_SHOP_300, 0)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=live_server.url,
                                          viewport={"width": 1280, "height": 900})
            context.set_default_timeout(15_000)
            context.add_cookies(cookies)
            page = context.new_page()

            page.goto("/portal/review/")
            expect(page.locator("h1")).to_have_text("Review")
            expect(page.locator(".sidenav .nav-badge")).to_have_text("2")
            expect(page.locator("tr[data-review-id]")).to_have_count(2)
            page.screenshot(path="/tmp/review_queue.png", full_page=True)
            page.click(f'tr[data-review-id="{first.pk}"] a[data-item-link]')

            expect(page.locator(".side-by-side .original")).to_contain_text(
                "Original listing title")
            expect(page.locator(".side-by-side .ai-text")).to_contain_text(title)
            expect(page.locator('[data-diff="original"] ins').first).to_be_visible()
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            page.keyboard.press("a")  # approve: the next pending item opens
            expect(page.locator(".alert-success")).to_contain_text("Approved")
            expect(page.locator(".side-by-side .ai-text")).to_contain_text(TITLES[1])

            page.goto(f"/portal/review/{first.pk}/")
            expect(page.locator("[data-status]")).to_have_attribute("data-status", "approved")
            page.click("#publish-form button[type=submit]")
            expect(page.locator(".publish-status")).to_contain_text("AI-assisted flag set")
            expect(page.locator(".audit-trail")).to_contain_text(
                "Published with the AI-assisted flag")
        finally:
            browser.close()

    [update] = sandbox.state.updates_for(goods_id)
    assert update["ai_assisted"] is True
    assert update["title"] == title
