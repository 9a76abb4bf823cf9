"""Monthly range partitions of effects_dailyperformance (docs/effects.md).

A month's partition is created the first time a row of that month is written, under an
advisory lock so concurrent workers do not race; the DEFAULT partition catches nothing as long
as every write goes through `ensure_partitions` first. Old months can be detached and archived
(`detach_month`) without touching the rest of the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db import connection, transaction

TABLE = "effects_dailyperformance"
_LOCK = 0x45464645  # "EFFE": one advisory lock for partition DDL


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{TABLE}_y{month.year:04d}m{month.month:02d}"


def existing_partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s", [TABLE])
        return {name for (name,) in cursor.fetchall()}


def ensure_partitions(days: Iterable[date]) -> list[str]:
    """Create the monthly partitions these days fall in; returns the ones created."""
    months = sorted({month_of(day) for day in days})
    if not months:
        return []
    have = existing_partitions()
    missing = [month for month in months if partition_name(month) not in have]
    if not missing:
        return []
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        have = existing_partitions()
        for month in missing:
            name = partition_name(month)
            if name in have:
                continue
            # Names and bounds come from dates, never from input text.
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {TABLE} "  # noqa: S608
                f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')")
            created.append(name)
    return created


def detach_month(month: date) -> str:
    """Detach a month's partition (to archive or export it, e.g. to a columnar store); the
    table stays as a standalone table of that name."""
    name = partition_name(month_of(month))
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {name}")
    return name
