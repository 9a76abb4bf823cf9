"""Run the daily listing-performance read now: every store with published AI content, or one.

`--through YYYY-MM-DD` reads up to that day instead of yesterday: with the marketplace sandbox's
clock moved ahead (`POST /__sandbox__/clock {"advance_days": 60}`), the demo reads the next 60
days in seconds (pass the sandbox's yesterday)."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from effects import services
from stores.models import Store
from tenants.scope import tenant_scope


class Command(BaseCommand):
    help = "Read listing performance from the marketplaces and attribute effects now."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--through", help="Last day to read (YYYY-MM-DD); default yesterday.")
        parser.add_argument("--store", type=int, help="Only this store (its ID).")

    def handle(self, *args, through: str | None, store: int | None, **options) -> None:
        try:
            last = date.fromisoformat(through) if through else None
        except ValueError as error:
            raise CommandError("--through must be a date, YYYY-MM-DD") from error
        if store is None:
            self.stdout.write(str(services.sync_all_stores(through=last)))
            return
        found = Store.unscoped.select_related("tenant").filter(pk=store).first()
        if found is None:
            raise CommandError(f"no store {store}")
        with tenant_scope(found.tenant):
            services.register_listings(found)
            result = services.sync_store(found, through=last)
            judged = services.attribute_store(found)
        self.stdout.write(f"{result}; {judged} listings judged")
