"""The Content-Security-Policy is on, and no main page breaks it: Chromium loads the pages
of a seller owner and of an ISV admin (found by following the navigation and the links on
each page), the admin and the API docs, and the test fails on any reported violation."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from tests.e2e.test_browser_sign_in import (
    ADMIN_EMAIL,
    YIWU,
    current_totp,
    new_page,
    shot,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Collects what the browser reports; an init script runs before the page's own scripts and
# is not subject to the page's policy.
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
                              + ` at ${e.sourceFile || ""}:${e.lineNumber || ""}`);
});
"""
SKIP = ("/accounts/logout/", "/export/", "/documents/", "/i18n/", "/api/v1/schema/")
MAX_PAGES = 30


def crawl(page: Page, base: str, start: list[str]) -> tuple[list[str], list[str]]:
    """Visit the start pages and the site's links found on them (two levels); returns the
    pages visited and every violation, with the page it happened on."""
    queue, seen, problems = list(start), [], []
    page.on("console", lambda message: problems.append(f"console: {message.text}")
            if "Content Security Policy" in message.text else None)
    depth = {url: 0 for url in start}
    while queue and len(seen) < MAX_PAGES:
        url = queue.pop(0)
        if url in seen:
            continue
        response = page.goto(url)
        seen.append(url)
        headers = response.headers if response else {}
        if response and "text/html" in headers.get("content-type", ""):
            if "content-security-policy" not in headers:
                problems.append(f"{url}: no Content-Security-Policy header")
            if "permissions-policy" not in headers:
                problems.append(f"{url}: no Permissions-Policy header")
        page.wait_for_load_state("networkidle")
        problems += [f"{url}: {v}" for v in page.evaluate("window.__cspViolations || []")]
        if depth[url] >= 2:
            continue
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            parts = urlsplit(href)
            if parts.netloc != urlsplit(base).netloc or any(s in parts.path for s in SKIP):
                continue
            link = parts.path + (f"?{parts.query}" if parts.query else "")
            if link not in depth:
                depth[link] = depth[url] + 1
                queue.append(link)
    return seen, problems


def test_seller_pages_keep_to_the_policy(live_server, demo_accounts, browser):
    page = new_page(browser, live_server)
    page.add_init_script(WATCH_VIOLATIONS)
    sign_in(page, YIWU["members"][0][0])
    page.wait_for_url("**/portal/")
    seen, problems = crawl(page, live_server.url, ["/portal/", "/portal/jobs/new/",
                                                   "/portal/api-keys/", "/portal/usage/"])
    shot(page, "csp-seller-last-page")
    assert len(seen) > 10, seen
    assert not problems, "\n".join(problems)


def test_staff_pages_admin_and_api_docs_keep_to_the_policy(live_server, demo_accounts,
                                                           browser):
    page = new_page(browser, live_server)
    page.add_init_script(WATCH_VIOLATIONS)
    sign_in(page, ADMIN_EMAIL)
    page.fill("input[name=code]", current_totp(demo_accounts[ADMIN_EMAIL].totp_secret))
    page.click("main button[type=submit]")
    page.wait_for_url("**/console/tenants/")
    seen, problems = crawl(page, live_server.url, [
        "/console/tenants/", "/admin/", "/admin/tenants/tenant/", "/api/v1/docs/",
        "/accounts/login/"])
    assert "/api/v1/docs/" in seen and len(seen) > 10, seen
    page.goto("/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .information-container", timeout=15_000)
    shot(page, "csp-api-docs")
    assert not page.evaluate("window.__cspViolations")
    assert not problems, "\n".join(problems)
