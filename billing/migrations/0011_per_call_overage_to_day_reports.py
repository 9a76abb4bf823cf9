"""Cut-over from one meter event per overage call to one per store and local day.

Every store and day with overage rows Stripe acknowledged per call gets a `per_call` day
report (sequence 0) carrying the fen those events sent, marked as accepted: those rows are
never sent again (no double charge). Rows of such a day still pending are reported by the
next run as a correction of a reported day (a correction meter event within 24 hours, an
invoice item after that), minus whatever Stripe's meter already holds beyond the confirmed
reports (a per-call event whose answer was lost). Days with no per-call report are reported
per day as usual. Also adds the daily reconciliation schedule against the meter's summaries.
"""

from django.db import migrations
from django.db.models import Max, Sum

RECONCILE = "billing.stripe_sync.reconcile_reported_days"


def per_call_days_to_reports(apps, schema_editor):
    UsageEvent = apps.get_model("billing", "UsageEvent")
    StripeDayReport = apps.get_model("billing", "StripeDayReport")
    reported = (UsageEvent.objects.filter(kind="overage", reported_to_stripe_at__isnull=False,
                                          stripe_meter_event_id__startswith="usage-")
                .values("tenant_id", "store_id", "day")
                .annotate(total=Sum("unit_price"), last=Max("reported_to_stripe_at"))
                .order_by("day", "store_id"))
    for group in reported.iterator():
        base = f"store-{group['store_id']}-{group['day']:%Y%m%d}"
        if StripeDayReport.objects.filter(store_id=group["store_id"],
                                          day=group["day"]).exists():
            continue  # already cut over (the migration was run again after a rollback)
        StripeDayReport.objects.create(
            tenant_id=group["tenant_id"], store_id=group["store_id"], day=group["day"],
            sequence=0, kind="per_call", identifier=f"{base}-per-call",
            value_fen=int((group["total"] * 100).to_integral_value()),
            sent_at=group["last"])


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        func=RECONCILE,
        defaults={"name": "Reconcile reported overage days with Stripe",
                  "schedule_type": "D", "repeats": -1})


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=RECONCILE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0010_stripe_day_reports"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [
        migrations.RunPython(per_call_days_to_reports, migrations.RunPython.noop),
        migrations.RunPython(create_schedule, delete_schedule),
    ]
