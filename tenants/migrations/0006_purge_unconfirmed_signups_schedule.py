"""The housekeeping schedule that deletes week-old company sign-ups whose e-mail was never
confirmed (editable in the admin)."""

from django.db import migrations

FUNC = "tenants.services.purge_unconfirmed_signups"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        func=FUNC,
        defaults={"name": "Purge unconfirmed company sign-ups", "schedule_type": "D",
                  "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=FUNC).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0005_tenant_onboarding_verification"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
