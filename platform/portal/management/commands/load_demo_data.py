from django.core.management.base import BaseCommand

from portal.demo_data import DEMO_PASSWORD, load_demo_data


class Command(BaseCommand):
    help = "Create the demo ISV staff, two seller tenants and their members (idempotent)."

    def handle(self, *args, **options):
        for account in load_demo_data():
            extra = f"  TOTP secret: {account.totp_secret}" if account.totp_secret else ""
            self.stdout.write(f"{account.email:38} {account.description}{extra}")
        self.stdout.write(f"Password for every demo account: {DEMO_PASSWORD}")
