"""Benchmark the catalog sync: a full sync of the 5,000-SKU sandbox shop, then a re-sync of the
unchanged store, against the marketplace sandbox (started in this process, real HTTP) and the
configured database. Prints the figures; creates a throwaway tenant and removes it afterwards.

    DJANGO_SETTINGS_MODULE=config.test_settings DATABASE_URL=postgres://.../listing_ai_bench \\
        python manage.py benchmark_catalog_sync
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from catalog.models import Product, SyncRun
from catalog.services import sync_store
from sandbox import shops
from sandbox.marketplace import start_sandbox
from stores.models import Store
from tenants.models import Tenant, User
from tenants.scope import tenant_scope

FULL_SYNC_TARGET_SECONDS = 20.0
RESYNC_TARGET_SECONDS = 5.0


class Command(BaseCommand):
    help = ("Time a full catalog sync of the 5,000-SKU sandbox shop and a re-sync of the "
            "unchanged store (targets: under 20 s and under 5 s).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--shop", default=shops.TEMU_SHOP_5000,
                            help="Sandbox shop to sync (default: the 5,000-SKU Temu shop).")

    def handle(self, *args, shop: str, **options) -> None:
        if shop not in shops.SHOPS:
            raise CommandError(f"Unknown sandbox shop {shop}; one of {sorted(shops.SHOPS)}.")
        self.stdout.write(f"Database: PostgreSQL {settings.DATABASES['default']['NAME']}")
        running = start_sandbox()
        try:
            with override_settings(
                MARKETPLACE_GATEWAY_OVERRIDES={"temu": running.temu_gateway_url,
                                               "aliexpress": running.aliexpress_gateway_url},
                MARKETPLACE_APPS={
                    "temu": {"app_key": shops.TEMU_APP_KEY, "app_secret": shops.TEMU_APP_SECRET},
                    "aliexpress": {"app_key": shops.ALIEXPRESS_APP_KEY,
                                   "app_secret": shops.ALIEXPRESS_APP_SECRET},
                },
            ):
                self._benchmark(running, shops.SHOPS[shop])
        finally:
            running.stop()

    def _benchmark(self, running, shop: shops.Shop) -> None:
        suffix = secrets.token_hex(4)
        tenant = Tenant.objects.create(name=f"Benchmark {suffix}", slug=f"benchmark-{suffix}",
                                       status=Tenant.Status.ACTIVE)
        user = User.objects.create_user(email=f"benchmark-{suffix}@example.invalid",
                                        password=secrets.token_urlsafe(16))
        token = running.state.issue_token(shop.shop_id)
        try:
            with tenant_scope(tenant):
                store = Store.objects.create(
                    tenant=tenant, site_code=shop.site, display_name=shop.name,
                    shop_id=shop.shop_id, access_token=token.token,
                    token_expires_at=timezone.now() + timedelta(days=30),
                    token_scopes=list(shop.default_scopes), authorized_at=timezone.now(),
                    status=Store.Status.CONNECTED, created_by=user,
                )
                first = self._timed("Full sync", store)
                if first.status != SyncRun.Status.SUCCEEDED:
                    raise CommandError(f"The full sync failed: {first.error_code} "
                                       f"{first.error_message}")
                second = self._timed("Unchanged re-sync", store)
                self.stdout.write(f"Products in the database: "
                                  f"{Product.objects.filter(store=store).count()}")
                self._verdict(first, second)
        finally:
            Tenant.objects.filter(pk=tenant.pk).delete()  # cascades to the store and catalog
            user.delete()

    def _timed(self, label: str, store: Store) -> SyncRun:
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            run = sync_store(store)
            seconds = time.perf_counter() - started
        run.benchmark_seconds = seconds
        rate = run.processed / seconds if seconds else 0
        self.stdout.write(
            f"{label}: {seconds:.2f} s, {run.processed} SKUs ({rate:,.0f} SKUs/s), "
            f"{run.pages} pages, {run.created} created, {run.updated} updated, "
            f"{run.unchanged} unchanged, {run.over_limit} over the limit, "
            f"{len(queries)} database queries, status {run.status}")
        return run

    def _verdict(self, first: SyncRun, second: SyncRun) -> None:
        for label, run, target in (("Full sync", first, FULL_SYNC_TARGET_SECONDS),
                                   ("Unchanged re-sync", second, RESYNC_TARGET_SECONDS)):
            ok = run.benchmark_seconds < target
            style = self.style.SUCCESS if ok else self.style.ERROR
            self.stdout.write(style(f"{label}: {run.benchmark_seconds:.2f} s "
                                    f"(target under {target:.0f} s) "
                                    f"{'OK' if ok else 'TOO SLOW'}"))
