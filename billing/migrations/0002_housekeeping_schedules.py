"""Housekeeping schedules for the quota (editable in the admin): release the reservations of
workers that never came back, and expire subscriptions whose period has ended."""

from django.db import migrations

SCHEDULES = [
    ("billing.quota.release_expired_reservations",
     {"name": "Release expired quota reservations", "schedule_type": "I", "minutes": 5,
      "repeats": -1}),
    ("billing.services.expire_ended_subscriptions",
     {"name": "Expire ended store subscriptions", "schedule_type": "H", "repeats": -1}),
]


def create_schedules(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for func, defaults in SCHEDULES:
        Schedule.objects.get_or_create(func=func, defaults=defaults)


def delete_schedules(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.filter(func__in=[func for func, _defaults in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(create_schedules, delete_schedules)]
