"""Archiving, and one store per shop and marketplace in a tenant (not per site: a Temu Canada
shop could be added under Temu US and then again under Canada).

Existing duplicates (the same shop under two sites of one marketplace) are resolved before the
constraint: the most recently authorized store stays, the others are revoked and archived, with
a status-history note naming the store that stays. Nothing is deleted."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def archive_duplicates(apps, schema_editor):
    Store = apps.get_model("stores", "Store")
    StoreStatusChange = apps.get_model("stores", "StoreStatusChange")
    now = timezone.now()
    groups = {}
    for store in Store._base_manager.exclude(shop_id="").order_by("pk"):
        key = (store.tenant_id, store.site_code.split("-", 1)[0], store.shop_id)
        groups.setdefault(key, []).append(store)
    for stores in groups.values():
        if len(stores) < 2:
            continue
        stores.sort(key=lambda s: (s.authorized_at or s.created_at, s.pk), reverse=True)
        kept = stores[0]
        for store in stores[1:]:
            StoreStatusChange._base_manager.create(
                tenant_id=store.tenant_id, store=store, from_status=store.status,
                to_status="revoked",
                note=f"Archived: the same shop is connected as store #{kept.pk} "
                     f"({kept.site_code}).")
            Store._base_manager.filter(pk=store.pk).update(
                status="revoked", access_token="", token_expires_at=None, token_scopes=[],
                archived_at=now)


class Migration(migrations.Migration):

    dependencies = [
        ('stores', '0003_store_health_schedule'),
        ('tenants', '0004_encrypt_mfa_secrets'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='store',
            name='one_store_per_shop_and_site',
        ),
        migrations.AddField(
            model_name='store',
            name='archived_at',
            field=models.DateTimeField(blank=True, help_text='An archived store is kept for billing history and the audit trail but hidden from lists and selections.', null=True, verbose_name='archived at'),
        ),
        migrations.AddField(
            model_name='store',
            name='archived_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(archive_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='store',
            constraint=models.UniqueConstraint(models.F('tenant'), models.Func(models.F('site_code'), models.Value('-'), models.Value(1), function='split_part'), models.F('shop_id'), condition=models.Q(models.Q(('shop_id', ''), _negated=True), ('archived_at__isnull', True)), name='one_store_per_shop_and_marketplace'),
        ),
    ]
