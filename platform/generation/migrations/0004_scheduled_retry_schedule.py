"""Every minute: run the failed items of jobs whose retry was asked for after the quota reset
(editable in the admin)."""

from django.db import migrations

FUNC = "generation.services.run_scheduled_retries"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        func=FUNC,
        defaults={"name": "Retry failed items after the quota reset", "schedule_type": "I",
                  "minutes": 1, "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=FUNC).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0003_job_retry_after_quota_reset"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
