"""Print how often the verdicts are right against the sandbox's truth, and how fast ingest and
attribution run; the last line is one JSON object with the same figures (effects.benchmark)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from effects import benchmark


class Command(BaseCommand):
    help = "Measure attribution accuracy (fixed seed) and ingest/attribution speed."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--listings", type=int, default=4000,
                            help="Simulated listings per traffic level and true lift.")
        parser.add_argument("--seed", type=int, default=20261201)
        parser.add_argument("--speed-listings", type=int, default=5000,
                            help="Listings of the store for ingest (x 30 days) and attribution.")
        parser.add_argument("--no-speed", action="store_true",
                            help="Skip the database part (ingest_seconds, attribution_seconds).")

    def handle(self, *args, listings: int, seed: int, no_speed: bool, speed_listings: int,
               **options) -> None:
        result = benchmark.run(listings=listings, seed=seed, with_speed=not no_speed,
                               speed_listings=speed_listings)
        self.stdout.write(f"attribution benchmark: seed {seed}, {listings} listings per case, "
                          f"CVR guard {result['cvr_mode']}")
        header = (f"{'impressions/day':>16} {'false_positive':>15} {'power_30':>9} "
                  f"{'power_50':>9} | {'rule_fp':>8} {'rule_p30':>9} {'rule_p50':>9} | "
                  f"{'stats_fp':>8} {'stats_p30':>9} {'stats_p50':>9}")
        self.stdout.write(header)
        for level, row in result["levels"].items():
            self.stdout.write(
                f"{int(level):>16,} {row['false_positive_rate']:>15.4f} {row['power_30']:>9.4f} "
                f"{row['power_50']:>9.4f} | {row['rule_false_positive_rate']:>8.4f} "
                f"{row['rule_power_30']:>9.4f} {row['rule_power_50']:>9.4f} | "
                f"{row['stats_false_positive_rate']:>8.4f} {row['stats_power_30']:>9.4f} "
                f"{row['stats_power_50']:>9.4f}")
        if "ingest_seconds" in result:
            self.stdout.write(f"ingest_seconds: {result['ingest_seconds']:.3f} "
                              f"({result['ingest_rows']:,} rows)")
            self.stdout.write(f"attribution_seconds: {result['attribution_seconds']:.3f} "
                              f"({result['attribution_listings']:,} listings)")
        self.stdout.write(json.dumps(result, sort_keys=True))
