"""`manage.py exercise_demo`: jobs, a sync, review decisions and publishing at once against the
running demo; fails unless every item and every publication ends (portal.demo_exercise)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from portal import demo_exercise


class Command(BaseCommand):
    help = ("Run generation jobs, a catalog sync, review decisions and publishing at once "
            "against the running demo, and check that everything ends.")

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000",
                            help="The demo's address (run_demo --addr).")
        parser.add_argument("--jobs", type=int, default=3)
        parser.add_argument("--skus", type=int, default=30, help="SKUs per job.")
        parser.add_argument("--timeout", type=float, default=600,
                            help="Seconds to wait for everything to end.")

    def handle(self, *args, url: str, jobs: int, skus: int, timeout: float, **options):
        outcome = demo_exercise.run(url, jobs=jobs, skus_per_job=skus, timeout_seconds=timeout)
        self.stdout.write(f"{len(outcome.jobs)} jobs, items {dict(outcome.items)}, "
                          f"decisions {dict(outcome.decisions)}, reviews {dict(outcome.reviews)}, "
                          f"sync {outcome.sync_status}, {outcome.seconds:.0f} s")
        self.stdout.write(json.dumps(outcome.as_json()))
        if outcome.stuck:
            raise CommandError("Did not end: " + "; ".join(outcome.stuck))
