"""The hourly housekeeping schedule that marks stores stale or their token expired and warns
owners about tokens expiring within 24 hours (editable in the admin)."""

from django.db import migrations

FUNC = "stores.services.check_store_health"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        func=FUNC,
        defaults={"name": "Check store health and token expiry", "schedule_type": "H",
                  "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=FUNC).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("stores", "0002_store_last_error_at"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
