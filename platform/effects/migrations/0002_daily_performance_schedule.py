"""The daily schedule that reads yesterday's listing performance for every store with published
AI content, back-fills each new listing's 28-day baseline and re-attributes (editable in the
admin)."""

from django.db import migrations

FUNC = "effects.services.sync_all_stores"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        func=FUNC,
        defaults={"name": "Read listing performance and attribute effects", "schedule_type": "D",
                  "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=FUNC).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("effects", "0001_listing_performance"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
