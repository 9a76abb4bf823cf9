"""The settlement schedule (editable in the admin): licence subscriptions still to create and
the overage of every closed local day still unreported go to Stripe. It only sends closed days
and is idempotent, so it runs hourly: a daily settlement that also retries within the hour
after a Stripe outage. A no-op in offline billing mode."""

from django.db import migrations

FUNC = "billing.stripe_sync.settle_overage_to_stripe"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        func=FUNC,
        defaults={"name": "Settle overage to Stripe", "schedule_type": "H", "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=FUNC).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_stripe"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
