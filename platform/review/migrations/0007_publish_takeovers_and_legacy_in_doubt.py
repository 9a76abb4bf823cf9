"""Publish takeovers are counted (housekeeping ends an item after too many), and items left
"publishing" by tasks that died before publish recovery existed are treated as in doubt: their
update may have reached the marketplace, so the attempt that takes them over reads the listing
before it sends anything."""

from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Coalesce, Now


def mark_legacy_pending_in_doubt(apps, schema_editor):
    Review = apps.get_model("review", "Review")
    # _base_manager: unscoped, with the historical and the real model alike.
    Review._base_manager.filter(publish_pending=True, publish_write_sent_at__isnull=True,
                                publish_lease_expires_at__isnull=True).update(
        publish_write_sent_at=Coalesce(F("publish_queued_at"), Now()))


class Migration(migrations.Migration):

    dependencies = [
        ('review', '0006_publish_recovery_schedule'),
    ]

    operations = [
        migrations.AddField(
            model_name='review',
            name='publish_takeovers',
            field=models.PositiveSmallIntegerField(default=0, help_text='How often housekeeping took this publication over from an attempt that stopped answering (since it was last queued).', verbose_name='publish takeovers'),
        ),
        migrations.RunPython(mark_legacy_pending_in_doubt, migrations.RunPython.noop),
    ]
