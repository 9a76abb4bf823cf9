"""Every minute: take over publish attempts whose lease ran out (a worker that died, a lost
message), so that publishing always ends (editable in the admin)."""

from django.db import migrations

FUNC = "review.publishing.recover_stalled_publications"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        func=FUNC,
        defaults={"name": "Recover stalled publishing", "schedule_type": "I",
                  "minutes": 1, "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=FUNC).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0005_publish_lease_and_check"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
