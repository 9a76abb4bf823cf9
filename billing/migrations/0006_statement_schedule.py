"""The monthly statement schedule (editable in the admin): on the first of each month, draw
up every tenant's draft usage statement for its previous local month. Idempotent: drafts are
redrawn from the ledger, statements past draft are left alone."""

from datetime import UTC, datetime

from django.db import migrations

FUNC = "billing.statements.draw_up_last_month"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    now = datetime.now(UTC)
    first_next = (datetime(now.year + 1, 1, 1, 2, tzinfo=UTC) if now.month == 12
                  else datetime(now.year, now.month + 1, 1, 2, tzinfo=UTC))
    Schedule.objects.get_or_create(
        func=FUNC,
        defaults={"name": "Draw up monthly usage statements", "schedule_type": "M",
                  "repeats": -1, "next_run": first_next},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=FUNC).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_statements"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
