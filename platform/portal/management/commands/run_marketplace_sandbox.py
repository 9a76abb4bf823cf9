"""`manage.py run_marketplace_sandbox --port 8090`: the Temu/AliExpress sandbox for the demo."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand

from sandbox import shops
from sandbox.marketplace import start_sandbox


class Command(BaseCommand):
    help = "Serve the marketplace sandbox (Temu and AliExpress gateways, seller center)."
    requires_system_checks: list[str] = []  # it uses no model, URL or template

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8090, help="0 picks a free port.")
        parser.add_argument("--state-file", type=Path,
                            help="Keep tokens and applied content in this JSON file across "
                                 "restarts, as a real marketplace keeps them.")

    def handle(self, *args, host: str, port: int, state_file: Path | None, **options):
        running = start_sandbox(host, port, state_file)
        out = self.stdout.write
        out(f"Marketplace sandbox at {running.url}/", ending="\n")
        out(f"  seller center     {running.url}/seller-center/")
        out(f"  Temu gateway      {running.temu_gateway_url}  (app key {shops.TEMU_APP_KEY})")
        out(f"  AliExpress        {running.aliexpress_gateway_url}  "
            f"(app key {shops.ALIEXPRESS_APP_KEY})")
        self.stdout.flush()
        try:
            while running.thread.is_alive():
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            running.stop()
