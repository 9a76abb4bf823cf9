"""Signing in for real: Debian's Chromium, driven by Playwright, against the live server.

Demo data are loaded with a transactional database so the server thread sees them. All
database work happens before the browser starts: Playwright's sync API runs an event loop
in this thread, and Django refuses ORM calls from a thread with a running loop.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.conf import settings
from playwright.sync_api import Page, expect, sync_playwright

from portal.demo_data import DEMO_PASSWORD, TENANTS, load_demo_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

YIWU, SUDA = TENANTS[0], TENANTS[1]
ADMIN_EMAIL = "admin@isv.example.com"


@pytest.fixture
def demo_accounts(settings):
    # One period of clock tolerance: a code computed at the end of a 30-second window is
    # still accepted a moment later, so the test does not depend on when it runs.
    settings.MFA_TOTP_TOLERANCE = 1
    return {account.email: account for account in load_demo_data()}


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's Chromium: apt-get install chromium")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(browser, live_server) -> Page:
    # A Chinese seller's browser: LANGUAGE_CODE is zh-hans, and so is Accept-Language.
    context = browser.new_context(base_url=live_server.url, locale="zh-CN",
                                  viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    return context.new_page()


def sign_in(page: Page, email: str) -> None:
    page.goto("/accounts/login/")
    expect(page.locator("h1")).to_have_text("登录")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("main button[type=submit]")


def totp_codes(secret: str, offsets=(0,)) -> list[str]:
    counter = int(time.time()) // mfa_settings.TOTP_PERIOD
    return [format_hotp_value(hotp_value(secret, counter + offset)) for offset in offsets]


def current_totp(secret: str) -> str:
    return totp_codes(secret)[0]


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def switch_to_english(page: Page) -> None:
    page.click("form.lang-switch button[value=en]")
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_seller_owner_signs_in_and_sees_only_their_company(live_server, demo_accounts, browser):
    owner_email = YIWU["members"][0][0]
    assert owner_email in demo_accounts
    page = new_page(browser, live_server)
    page.goto("/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    shot(page, "01-login-zh")

    sign_in(page, owner_email)
    expect(page).to_have_url(f"{live_server.url}/portal/")
    expect(page.locator("main h1")).to_have_text(YIWU["name"])
    expect(page.locator("nav.sidenav")).to_contain_text("工作台")
    expect(page.locator("header.topbar")).to_contain_text(owner_email)
    body = page.content()
    assert SUDA["name"] not in body
    assert SUDA["licence_number"] not in body
    shot(page, "02-owner-dashboard-zh")

    switch_to_english(page)
    expect(page).to_have_url(f"{live_server.url}/portal/")
    expect(page.locator("nav.sidenav a")).to_have_text(
        ["Dashboard", "Stores", "Catalog", "Jobs", "Review", "Effects", "Usage", "Members",
         "API keys", "Company"])
    expect(page.locator("main h1")).to_have_text(YIWU["name"])
    shot(page, "03-owner-dashboard-en")

    page.goto("/portal/members/")
    expect(page.locator("main")).to_contain_text(YIWU["members"][1][0])  # the reviewer
    assert SUDA["members"][0][0] not in page.content()
    shot(page, "04-owner-members-en")

    page.goto(f"/console/tenants/{SUDA['slug']}/")
    expect(page.locator("main h1")).to_have_text("Not allowed")
    assert SUDA["name"] not in page.content()


def test_isv_admin_signs_in_with_totp_and_sees_both_tenants(live_server, demo_accounts,
                                                             browser):
    secret = demo_accounts[ADMIN_EMAIL].totp_secret
    assert secret
    page = new_page(browser, live_server)

    sign_in(page, ADMIN_EMAIL)
    expect(page).to_have_url(f"{live_server.url}/accounts/2fa/authenticate/")
    shot(page, "05-admin-totp-zh")
    page.fill("input[name=code]", current_totp(secret))
    page.click("main button[type=submit]")

    expect(page).to_have_url(f"{live_server.url}/console/tenants/")
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(2)
    for tenant in (YIWU, SUDA):
        expect(page.locator("main table")).to_contain_text(tenant["name"])
    expect(page.locator("nav.sidenav a")).to_have_text(
        ["租户", "用量", "账单", "待开通套餐的店铺", "任务", "模型节点", "指令", "违禁词",
         "模型请求", "模型费用"])
    shot(page, "06-console-tenants-zh")

    switch_to_english(page)
    expect(page).to_have_url(f"{live_server.url}/console/tenants/")
    expect(page.locator("main h1")).to_have_text("Tenants")
    expect(page.locator("nav.sidenav a")).to_have_text(
        ["Tenants", "Usage", "Invoices", "Stores waiting for a pack", "Jobs", "Model nodes",
         "Instructions", "Banned words", "Model requests", "Model cost"])
    expect(page.locator("main table thead")).to_contain_text("Company")
    shot(page, "07-console-tenants-en")

    page.click(f"main table a:text('{SUDA['name']}')")
    expect(page).to_have_url(f"{live_server.url}/console/tenants/{SUDA['slug']}/")
    expect(page.locator("main")).to_contain_text(SUDA["licence_number"])
    expect(page.locator("main")).to_contain_text(SUDA["members"][0][0])
    shot(page, "08-console-tenant-detail-en")


def test_a_wrong_totp_code_does_not_let_staff_in(live_server, demo_accounts, browser):
    page = new_page(browser, live_server)
    sign_in(page, ADMIN_EMAIL)
    expect(page).to_have_url(f"{live_server.url}/accounts/2fa/authenticate/")
    valid = totp_codes(demo_accounts[ADMIN_EMAIL].totp_secret, offsets=(-2, -1, 0, 1, 2))
    wrong = next(code for code in ("000000", "111111", "222222") if code not in valid)
    page.fill("input[name=code]", wrong)
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/accounts/2fa/authenticate/")
    page.goto("/console/tenants/")
    expect(page).not_to_have_url(f"{live_server.url}/console/tenants/")
    assert YIWU["name"] not in page.content()
