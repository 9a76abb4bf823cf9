"""The live parts in a real browser, in Chinese: a job's progress and a catalog sync's progress
update while the page stays open (htmx fetching the panels again), the page reloads once the
work has finished, cancelling a job asks first, and the new-job page's estimate follows the
choices. Debian's Chromium, driven by Playwright,
against the live server.

Playwright's sync API runs an event loop in the test's thread and Django refuses ORM calls
from such a thread, so the progress the "workers" make while the page is open is written from
a helper thread (`in_thread`), as a worker process would write it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect, sync_playwright

from catalog.models import SyncRun
from generation.models import GenerationJob
from tenants.scope import tenant_scope
from tests.generation.conftest import make_store, pack, products, store  # noqa: F401
from tests.review.conftest import make_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
# Set on the page before the progress changes: still there afterwards means the panel was
# updated in place, gone means the page was loaded again.
MARK = "window.__notReloaded = true"
IS_MARKED = "window.__notReloaded === true"


def in_thread(work) -> None:
    """Run ORM work outside the test's thread (see the module's docstring), committed at once."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def signed_in(live_server, user, tenant) -> list[dict]:
    """The cookies of a signed-in Chinese seller (before the browser starts: ORM work)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's Chromium: apt-get install chromium")
    client = Client()
    client.force_login(user)
    session = client.session
    session["tenant_id"] = tenant.pk
    session.save()
    return [{"name": settings.SESSION_COOKIE_NAME, "value": session.session_key,
             "url": live_server.url},
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": "zh-hans", "url": live_server.url}]


def chinese_page(playwright, live_server, cookies: list[dict]):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    context = browser.new_context(base_url=live_server.url, locale="zh-CN",
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    context.add_cookies(cookies)
    problems: list[str] = []
    page = context.new_page()
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" else None)
    return browser, page, problems


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_job_progress_updates_live_and_cancelling_asks_first(live_server, tenant_a, owner_a):
    shop = make_store(tenant_a, owner_a)
    job = make_job(shop, owner_a, status=GenerationJob.Status.RUNNING, items_total=10,
                   items_succeeded=2)
    other = make_job(shop, owner_a, status=GenerationJob.Status.QUEUED, items_total=4)

    def progress() -> None:
        GenerationJob.unscoped.filter(pk=job.pk).update(items_succeeded=5, items_failed=1)

    def finish() -> None:
        GenerationJob.unscoped.filter(pk=job.pk).update(
            status=GenerationJob.Status.COMPLETED_WITH_ERRORS, items_succeeded=9,
            items_failed=1, finished_at=timezone.now())

    cookies = signed_in(live_server, owner_a, tenant_a)
    with sync_playwright() as playwright:
        browser, page, problems = chinese_page(playwright, live_server, cookies)
        try:
            page.goto(f"/portal/jobs/{job.pk}/")
            expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
            panel = page.locator("#job-progress")
            expect(panel).to_contain_text("20%")
            expect(panel).to_contain_text("进行中")
            page.evaluate(MARK)

            in_thread(progress)
            expect(panel).to_contain_text("60%")  # within a poll or two, without a reload
            expect(panel.locator('[data-counter="failed"]')).to_have_text("1")
            assert page.evaluate(IS_MARKED)
            shot(page, "live-job-progress-zh")

            in_thread(finish)
            # Finished: the page is loaded again, the item table and buttons as they are now.
            expect(page.locator("#job-progress")).to_have_attribute("data-active", "false")
            assert not page.evaluate(IS_MARKED)
            expect(page.locator("#job-progress")).to_contain_text("100%")
            expect(page.locator("#job-progress")).to_contain_text("已完成")
            expect(page.locator("#job-progress[hx-get]")).to_have_count(0)  # polling stopped
            expect(page.get_by_role("button", name="取消任务")).to_have_count(0)

            # Cancelling asks first; declining sends nothing.
            page.goto(f"/portal/jobs/{other.pk}/")
            page.evaluate(MARK)
            asked: list[str] = []
            page.once("dialog", lambda dialog: (asked.append(dialog.message),
                                                dialog.dismiss()))
            page.get_by_role("button", name="取消任务").click()
            expect(page.locator("#job-progress")).to_contain_text("排队中")
            assert asked == ["确定取消该任务？尚未开始运行的条目将不再运行。"]
            assert page.evaluate(IS_MARKED)
            page.once("dialog", lambda dialog: dialog.accept())
            page.get_by_role("button", name="取消任务").click()
            expect(page.locator(".alert-success")).to_contain_text(f"#{other.pk}")
            expect(page.locator("#job-progress")).to_have_attribute("data-active", "false")
            assert not page.evaluate(IS_MARKED)
            shot(page, "live-job-cancelled-zh")
        finally:
            browser.close()
    assert not problems, problems  # no script error, no Content-Security-Policy violation
    statuses: list[str] = []
    in_thread(lambda: statuses.append(GenerationJob.unscoped.get(pk=other.pk).status))
    assert statuses == [GenerationJob.Status.CANCELLED]


def test_sync_progress_updates_live(live_server, tenant_a, owner_a):
    shop = make_store(tenant_a, owner_a)
    with tenant_scope(tenant_a):
        run = SyncRun.objects.create(store=shop, status=SyncRun.Status.RUNNING,
                                     heartbeat_at=timezone.now(), pages=1,
                                     total_reported=300, created=30)

    def progress() -> None:
        SyncRun.unscoped.filter(pk=run.pk).update(pages=3, created=150, updated=30,
                                                  heartbeat_at=timezone.now())

    def finish() -> None:
        SyncRun.unscoped.filter(pk=run.pk).update(
            status=SyncRun.Status.SUCCEEDED, pages=4, created=250, updated=30, unchanged=20,
            finished_at=timezone.now())

    cookies = signed_in(live_server, owner_a, tenant_a)
    with sync_playwright() as playwright:
        browser, page, problems = chinese_page(playwright, live_server, cookies)
        try:
            page.goto("/portal/catalog/")
            row = page.locator(".sync-run")
            expect(row).to_contain_text("已处理 30 / 300 个 SKU，共 1 页")
            expect(row.locator("progress")).to_have_attribute("value", "10")
            page.evaluate(MARK)

            in_thread(progress)
            expect(row).to_contain_text("已处理 180 / 300 个 SKU，共 3 页")
            expect(row.locator("progress")).to_have_attribute("value", "60")
            assert page.evaluate(IS_MARKED)
            shot(page, "live-sync-progress-zh")

            in_thread(finish)
            expect(row.locator(".badge")).to_have_text("成功")
            expect(row.locator("progress")).to_have_count(0)
            assert not page.evaluate(IS_MARKED)  # reloaded to show the result
        finally:
            browser.close()
    assert not problems, problems


def test_the_estimate_follows_the_choices(live_server, tenant_a, owner_a, store,  # noqa: F811
                                          products):  # noqa: F811
    cookies = signed_in(live_server, owner_a, tenant_a)
    with sync_playwright() as playwright:
        browser, page, problems = chinese_page(playwright, live_server, cookies)
        try:
            page.goto(f"/portal/jobs/new/?store={store.pk}")
            page.evaluate(MARK)
            estimate = page.locator("#job-estimate")
            expect(estimate.locator('[data-estimate="skus"]')).to_have_count(0)
            page.get_by_label("店铺全部 SKU").check()
            page.check('input[name="kinds"][value="title"]')
            expect(estimate.locator('[data-estimate="skus"]')).to_have_text(str(len(products)))
            items = int(estimate.locator('[data-estimate="items"]').inner_text())
            assert items >= len(products)
            page.check('input[name="kinds"][value="bullet_points"]')
            expect(estimate.locator('[data-estimate="items"]')).to_have_text(str(items * 2))
            expect(estimate).to_contain_text("AI 调用")
            assert page.evaluate(IS_MARKED)  # refreshed in place, nothing submitted
            shot(page, "live-estimate-zh")
            # The buttons still submit the form itself (what works without JavaScript too).
            with page.expect_navigation():
                page.get_by_role("button", name="预览费用").click()
            expect(estimate.locator('[data-estimate="items"]')).to_have_text(str(items * 2))
            assert not page.evaluate(IS_MARKED)
        finally:
            browser.close()
    assert not problems, problems
    jobs: list[int] = []
    in_thread(lambda: jobs.append(GenerationJob.unscoped.count()))
    assert jobs == [0]
