import json as _json
from dataclasses import asdict

from django.core.management import call_command
from django.core.management.base import BaseCommand

from portal.demo_data import DEMO_PASSWORD, load_demo_data, load_demo_generation


class Command(BaseCommand):
    help = ("Create the demo ISV staff, two seller tenants and their members (idempotent); with "
            "the sandbox addresses also model nodes and a synced, subscribed store.")

    def add_arguments(self, parser):
        parser.add_argument("--model-api-url", help="The model sandbox's /v1 address.")
        parser.add_argument("--marketplace-url", help="The marketplace sandbox's address.")
        parser.add_argument("--migrate", action="store_true",
                            help="Compile the translations and migrate first (one process "
                                 "for run_demo's preparation).")
        parser.add_argument("--json", action="store_true",
                            help="Print the accounts as one JSON line (for run_demo).")

    def handle(self, *args, model_api_url, marketplace_url, migrate: bool, json: bool,
               **options):
        if migrate:
            call_command("compile_translations", verbosity=0)
            call_command("migrate", interactive=False, verbosity=0)
        accounts = load_demo_data()
        if model_api_url and marketplace_url:
            load_demo_generation(model_api_url=model_api_url, marketplace_url=marketplace_url)
        if json:
            self.stdout.write(_json.dumps([asdict(account) for account in accounts]))
            return
        for account in accounts:
            extra = f"  TOTP secret: {account.totp_secret}" if account.totp_secret else ""
            self.stdout.write(f"{account.email:38} {account.description}{extra}")
        self.stdout.write(f"Password for every demo account: {DEMO_PASSWORD}")
