"""A seller company onboards itself in a real browser (Debian's Chromium, driven by Playwright,
against the live server): sign-up in Chinese, the e-mailed verification link, the company page
listing what is missing, the uploads; ISV staff (with TOTP) refuse with a reason, the seller
resubmits, staff verify, then suspend and reactivate; each decision reaches the owner by e-mail
in both languages.

The e-mails are read from Django's in-memory outbox (the live server runs in this process);
no ORM call happens once the browser runs (see test_browser_sign_in.py).
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.e2e.test_browser_sign_in import (
    ADMIN_EMAIL,
    current_totp,
    new_page,
    shot,
    sign_in,
    switch_to_english,
)
from tests.tenants.documents import PDF

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("eager_celery")]

COMPANY = "Hangzhou Lakeside Trading"
OWNER = "li.na@lakeside.example.com"
PASSWORD = "Lakeside-Pass-2026"
REASON = "The business licence scan is cut off at the bottom."
LINK = re.compile(r"https?://\S+")


def _mail_to(address: str, count_before: int):
    messages = [m for m in mail.outbox[count_before:] if address in m.to]
    assert messages, [m.subject for m in mail.outbox]
    return messages[-1]


def _no_server_error(page) -> None:
    body = page.content()
    assert "Server Error" not in body and "Traceback" not in body


def test_a_seller_signs_up_uploads_documents_and_staff_refuse_then_verify(
        live_server, demo_accounts, browser):
    secret = demo_accounts[ADMIN_EMAIL].totp_secret
    seller = new_page(browser, live_server)

    # Sign-up, in Chinese; a wrong phone number is refused with a Chinese message first.
    seller.goto("/signup/")
    expect(seller.locator("main h1")).to_have_text("注册企业")
    seller.fill("input[name=company]", COMPANY)
    seller.fill("input[name=contact_name]", "Li Na")
    seller.fill("input[name=phone]", "call me")
    seller.fill("input[name=email]", OWNER)
    seller.fill("input[name=password1]", PASSWORD)
    seller.fill("input[name=password2]", PASSWORD)
    seller.click("main button[type=submit]")
    expect(seller.locator("main .errorlist")).to_contain_text("请输入数字电话号码")
    shot(seller, "onboarding-01-signup-error-zh")
    seller.fill("input[name=phone]", "+86 571 8888 0000")
    seller.fill("input[name=password1]", PASSWORD)
    seller.fill("input[name=password2]", PASSWORD)
    sent = len(mail.outbox)
    seller.click("main button[type=submit]")
    expect(seller).to_have_url(f"{live_server.url}/accounts/confirm-email/")

    # The verification link from the e-mail signs the new owner in.
    confirmation = _mail_to(OWNER, sent)
    link = next(url for url in LINK.findall(confirmation.body) if "/confirm-email/" in url)
    seller.goto(link)
    seller.click("main button[type=submit]")
    expect(seller).to_have_url(f"{live_server.url}/portal/")
    expect(seller.locator("main h1")).to_have_text(COMPANY)

    # The company page says what is missing; the seller fills it in and uploads the scans.
    seller.goto("/portal/company/")
    expect(seller.locator("main")).to_contain_text("待认证")
    missing = seller.locator("#missing li")
    expect(missing).to_have_count(5)
    seller.fill("input[name=licence_number]", "91330100MA2LAKE01")
    seller.fill("input[name=legal_representative]", "李娜")
    seller.click("main form:has(input[name=licence_number]) button[type=submit]")
    expect(missing).to_have_count(3)
    for kind in ("business_licence", "legal_rep_id", "bank_account"):
        seller.select_option("select[name=kind]", kind)
        seller.set_input_files("input[name=file]", files=[
            {"name": f"{kind}.pdf", "mimeType": "application/pdf", "buffer": PDF}])
        seller.click("main button[name=upload]")
        _no_server_error(seller)
    expect(seller.locator("#missing")).to_have_count(0)
    shot(seller, "onboarding-02-company-complete-zh")

    # ISV staff sign in with TOTP and find the company waiting for verification.
    staff = new_page(browser, live_server)
    sign_in(staff, ADMIN_EMAIL)
    staff.fill("input[name=code]", current_totp(secret))
    staff.click("main button[type=submit]")
    expect(staff).to_have_url(f"{live_server.url}/console/tenants/")
    switch_to_english(staff)
    staff.goto("/console/tenants/?status=awaiting")
    expect(staff.locator("main table tbody tr")).to_have_count(1)
    staff.click(f"main table a:text('{COMPANY}')")
    expect(staff.locator("main h1")).to_contain_text("Pending verification")
    expect(staff.locator("#stores")).to_contain_text("No stores yet.")
    expect(staff.locator("#members")).to_contain_text(OWNER)

    # Refused with a reason: the owner reads it in the e-mail and on the company page.
    sent = len(mail.outbox)
    staff.fill("#actions textarea[name=reason] >> nth=0", REASON)
    staff.click("#actions button:text('Refuse')")
    expect(staff.locator("main h1")).to_contain_text("Verification refused")
    refusal = _mail_to(OWNER, sent)
    chinese, english = refusal.body.split("\n\n----\n\n")
    assert REASON in english and REASON in chinese and "未能认证" in chinese
    seller.reload()
    expect(seller.locator("#refusal")).to_contain_text(REASON)
    shot(seller, "onboarding-03-refused-zh")
    seller.click("#refusal button[name=resubmit]")
    expect(seller.locator("main")).to_contain_text("待认证")

    # Verified: the owner is told, and the company is active.
    staff.reload()
    sent = len(mail.outbox)
    staff.click("#actions button:text('Verify')")
    expect(staff.locator("main h1")).to_contain_text("Active")
    shot(staff, "onboarding-04-console-verified-en")
    assert "Listing AI has verified" in _mail_to(OWNER, sent).body
    seller.reload()
    expect(seller.locator("main section.card").first.locator("p strong").first).to_have_text(
        "正常")  # Active
    _no_server_error(seller)

    # Suspended with a reason, then reactivated: the owner is e-mailed both times.
    sent = len(mail.outbox)
    staff.fill("#actions textarea[name=reason]", "Unpaid usage statement.")
    staff.click("#actions button:text('Suspend')")
    expect(staff.locator("main h1")).to_contain_text("Suspended")
    assert "Unpaid usage statement." in _mail_to(OWNER, sent).body
    seller.reload()
    expect(seller.locator("main .alert").first).to_contain_text("Unpaid usage statement.")
    sent = len(mail.outbox)
    staff.click("#actions button:text('Reactivate')")
    expect(staff.locator("main h1")).to_contain_text("Active")
    assert "reactivated" in _mail_to(OWNER, sent).body
