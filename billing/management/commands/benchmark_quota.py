from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing.benchmark import benchmark


class Command(BaseCommand):
    help = ("Quota reservations (+ settlements and releases) from concurrent workers on a few "
            "stores, against the configured PostgreSQL; checks that counters and ledger agree "
            "exactly, prints the throughput, and removes what it created.")

    def add_arguments(self, parser):
        parser.add_argument("--reservations", type=int, default=100_000)
        parser.add_argument("--workers", type=int, default=16,
                            help="worker processes (or threads), each with its own database "
                                 "connection")
        parser.add_argument("--threads", action="store_true",
                            help="threads in this process instead of forked processes")
        parser.add_argument("--stores", type=int, default=4)
        parser.add_argument("--capped-calls", type=int, default=None,
                            help="daily limit (included + cap) of the last store; by default "
                                 "a little below its share, so some calls are refused")

    def handle(self, *args, reservations, workers, stores, capped_calls, threads, **options):
        if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
            raise CommandError("The quota benchmark needs PostgreSQL (set DATABASE_URL).")
        if reservations < 1 or workers < 1 or stores < 2:
            raise CommandError("Need at least 1 reservation, 1 worker and 2 stores.")
        if capped_calls is None:
            capped_calls = max(500, int(reservations / stores * 0.8))
        kind = "threads" if threads else "processes"
        self.stdout.write(f"{reservations} reservations, {workers} {kind}, {stores} stores "
                          f"(the last one capped at {capped_calls} calls a day) ...")
        report = benchmark(reservations, workers, stores, capped_calls, processes=not threads)
        outcome = report.outcome
        self.stdout.write(f"reserved {outcome.reserved}, settled {outcome.settled}, "
                          f"released {outcome.released}, refused (quota) {outcome.refused}")
        self.stdout.write("\n".join(report.per_store))
        self.stdout.write(
            f"{report.seconds:.2f} s: {report.reservations_per_second:,.0f} reservations/s "
            f"({report.operations_per_second:,.0f} quota operations/s incl. settle/release)")
        if report.discrepancies:
            raise CommandError("DISCREPANCY between counters and ledger:\n  "
                               + "\n  ".join(report.discrepancies[:50]))
        self.stdout.write(self.style.SUCCESS("Zero discrepancy: counters == ledger."))
        self.stdout.write(f"synchronous_commit for quota steps: "
                          f"{'on' if settings.QUOTA_SYNCHRONOUS_COMMIT else 'off'}")
