"""Writes about packs and subscriptions: price changes, subscribing, renewing, cancelling,
the overage cap, and the housekeeping that expires ended periods."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.services import record
from billing import stripe_sync
from billing.models import QuotaPack, QuotaPackVersion, StoreSubscription
from billing.quota import local_day
from stores.models import Store
from tenants.models import User

Status = StoreSubscription.Status
LIVE = (Status.TRIAL, Status.ACTIVE, Status.PAST_DUE)


class BillingError(Exception):
    """A request that cannot be carried out; the message says what to do instead."""


@dataclass(frozen=True)
class PackTerms:
    licence_price_per_year: Decimal
    included_calls_per_day: int
    overage_price_per_call: Decimal
    sku_limit: int
    marketplaces: tuple[str, ...]

    @classmethod
    def of(cls, version: QuotaPackVersion) -> PackTerms:
        return cls(version.licence_price_per_year, version.included_calls_per_day,
                   version.overage_price_per_call, version.sku_limit,
                   tuple(sorted(version.marketplaces)))


STANDARD_TERMS = PackTerms(licence_price_per_year=Decimal("2880.00"), included_calls_per_day=500,
                           overage_price_per_call=Decimal("0.80"), sku_limit=5000,
                           marketplaces=("aliexpress", "temu"))


# Packs -------------------------------------------------------------------------------------

def publish_pack_terms(pack: QuotaPack, terms: PackTerms, *, by: User | None) -> QuotaPackVersion:
    """Make `terms` the pack's current terms. Unchanged terms keep the current version; any
    change writes a new version (running subscriptions keep theirs until renewal)."""
    with transaction.atomic():
        QuotaPack.objects.select_for_update().get(pk=pack.pk)
        current = pack.versions.order_by("-number").first()
        normalised = PackTerms(**{**asdict(terms),
                                  "marketplaces": tuple(sorted(set(terms.marketplaces)))})
        if current is not None and PackTerms.of(current) == normalised:
            return current
        return QuotaPackVersion.objects.create(
            pack=pack, number=(current.number + 1) if current else 1, created_by=by,
            **{**asdict(normalised), "marketplaces": list(normalised.marketplaces)})


def create_pack(*, code: str, name: str, terms: PackTerms, by: User | None) -> QuotaPack:
    with transaction.atomic():
        pack = QuotaPack.objects.create(code=code, name=name)
        publish_pack_terms(pack, terms, by=by)
    return pack


# Subscriptions -----------------------------------------------------------------------------

def one_year_from(start: date) -> date:
    """The last day of a yearly period starting on `start` (29 February falls back)."""
    try:
        return start.replace(year=start.year + 1) - timedelta(days=1)
    except ValueError:
        return date(start.year + 1, 3, 1) - timedelta(days=1)


def subscribe_store(store: Store, pack: QuotaPack, *, by: User | None,
                    status: str = Status.ACTIVE, starts_on: date | None = None,
                    daily_overage_cap: int | None = None) -> StoreSubscription:
    """Give a store (one marketplace site) a subscription on the pack's current version:
    a trial of BILLING_TRIAL_DAYS or a yearly licence, from `starts_on` (today)."""
    if status not in (Status.TRIAL, Status.ACTIVE):
        raise BillingError(_("A new subscription starts as a trial or active."))
    version = pack.current_version
    if version is None or not pack.is_offered:
        raise BillingError(_("The quota pack %(pack)s is not offered.") % {"pack": pack.name})
    if not version.covers(store.site.marketplace.value):
        raise BillingError(_("The quota pack %(pack)s does not cover %(site)s stores.")
                           % {"pack": pack.name, "site": store.site.label})
    today = local_day(store.tenant)
    starts_on = starts_on or today
    if status == Status.TRIAL:
        ends_on = starts_on + timedelta(days=settings.BILLING_TRIAL_DAYS - 1)
    else:
        ends_on = one_year_from(starts_on)
    if ends_on < today:
        raise BillingError(_("This period (%(start)s to %(end)s) is already over in the "
                             "tenant's time zone: choose a start from which it still runs.")
                           % {"start": f"{starts_on:%Y-%m-%d}", "end": f"{ends_on:%Y-%m-%d}"})
    with transaction.atomic():
        _lock_store(store)
        _refuse_overlap(store, starts_on, ends_on)
        subscription = StoreSubscription.unscoped.create(
            tenant_id=store.tenant_id, store=store, pack_version=version, status=status,
            starts_on=starts_on, ends_on=ends_on, daily_overage_cap=daily_overage_cap)
        _record(AuditEvent.Action.SUBSCRIPTION_CREATED, subscription, by)
        stripe_sync.push_licence_after_commit(subscription)
    return subscription


def stores_waiting_for_a_pack(tenant=None):
    """Stores that have never had a subscription (trial or licence): new stores ISV sales
    should offer a pack to, and whose owner may start a trial. Newest first."""
    stores = Store.unscoped.filter(tenant=tenant) if tenant is not None else Store.unscoped.all()
    return (stores.exclude(pk__in=StoreSubscription.unscoped.values("store_id"))
            .order_by("-created_at", "-pk"))


def start_trial(store: Store, *, by: User) -> StoreSubscription:
    """The seller's owner starts the trial of the pack BILLING_TRIAL_PACK for a new store:
    once per store (a store that has had any subscription cannot)."""
    pack = QuotaPack.objects.filter(code=settings.BILLING_TRIAL_PACK, is_offered=True).first()
    if pack is None:
        raise BillingError(_("No quota pack offers a trial at the moment; ask ISV sales to "
                             "subscribe the store."))
    with transaction.atomic():
        _lock_store(store)
        if StoreSubscription.unscoped.filter(store_id=store.pk).exists():
            raise BillingError(_("Store %(store)s has already had a trial or a subscription; "
                                 "a trial can be started once per store. Ask ISV sales for a "
                                 "licence.") % {"store": store.display_name})
        return subscribe_store(store, pack, by=by, status=Status.TRIAL)


def renew_subscription(subscription: StoreSubscription, *, by: User | None) -> StoreSubscription:
    """The next yearly period on the pack's CURRENT version (a price change applies from
    here). It starts the day after the period ends, or today if that day has passed."""
    with transaction.atomic():
        _lock_store(subscription.store)
        subscription.refresh_from_db()
        if StoreSubscription.unscoped.filter(renewed_from=subscription).exists():
            raise BillingError(_("This subscription has already been renewed."))
        if subscription.status == Status.CANCELLED:
            raise BillingError(_("A cancelled subscription cannot be renewed; subscribe the "
                                 "store again instead."))
        version = subscription.pack_version.pack.current_version
        today = local_day(subscription.tenant)
        starts_on = max(subscription.ends_on + timedelta(days=1), today)
        ends_on = one_year_from(starts_on)
        _refuse_overlap(subscription.store, starts_on, ends_on)
        renewal = StoreSubscription.unscoped.create(
            tenant_id=subscription.tenant_id, store_id=subscription.store_id,
            pack_version=version, status=Status.ACTIVE, starts_on=starts_on, ends_on=ends_on,
            daily_overage_cap=subscription.daily_overage_cap, renewed_from=subscription)
        _record(AuditEvent.Action.SUBSCRIPTION_RENEWED, renewal, by)
        stripe_sync.push_licence_after_commit(renewal)
    return renewal


def cancel_subscription(subscription: StoreSubscription, *, by: User | None) -> None:
    """Stop the subscription now: the store cannot start generation any more."""
    with transaction.atomic():
        subscription.refresh_from_db()
        if subscription.status in (Status.CANCELLED, Status.EXPIRED):
            raise BillingError(_("The subscription has already ended."))
        subscription.status = Status.CANCELLED
        subscription.cancelled_at = timezone.now()
        subscription.save(update_fields=["status", "cancelled_at", "updated_at"])
        _record(AuditEvent.Action.SUBSCRIPTION_CANCELLED, subscription, by)
        stripe_sync.cancel_usage_after_commit(subscription.tenant_id)


# A store's overage calls a day cannot usefully exceed this (5,000 SKUs x every kind and
# language is about 300,000); it also keeps the cap within its column.
MAX_DAILY_OVERAGE_CAP = 1_000_000


def set_daily_overage_cap(store: Store, cap: int | None, *, by: User | None) -> int:
    """The tenant's cap on overage calls per day for one store (None: no cap, 0: stop at
    the included calls). Applies to the current and any renewed period; returns how many
    subscriptions changed."""
    if cap is not None and not 0 <= cap <= MAX_DAILY_OVERAGE_CAP:
        raise BillingError(_("The overage cap must be between 0 and %(max)s calls a day.")
                           % {"max": MAX_DAILY_OVERAGE_CAP})
    with transaction.atomic():
        _lock_store(store)
        today = local_day(store.tenant)
        subscriptions = list(StoreSubscription.unscoped.filter(
            store_id=store.pk, status__in=LIVE, ends_on__gte=today))
        if not subscriptions:
            raise BillingError(_("Store %(store)s has no running subscription to set a cap on.")
                               % {"store": store.display_name})
        before = subscriptions[0].daily_overage_cap
        for subscription in subscriptions:
            subscription.daily_overage_cap = cap
            subscription.save(update_fields=["daily_overage_cap", "updated_at"])
        record(AuditEvent.Action.OVERAGE_CAP_CHANGED, tenant=store.tenant, actor=by,
               target=str(store), details={"store_id": store.pk, "before": before,
                                           "after": cap})
    return len(subscriptions)


def expire_ended_subscriptions(now: datetime | None = None) -> int:
    """Housekeeping (django-q2 schedule): periods whose last local day has passed expire."""
    now = now or timezone.now()
    # No time zone is more than a day ahead of UTC: this bounds the candidates.
    bound = now.astimezone(UTC).date()
    expired = 0
    tenant_ids = set()
    candidates = StoreSubscription.unscoped.filter(status__in=LIVE, ends_on__lte=bound)
    for subscription in candidates.select_related("tenant"):
        if subscription.ends_on < local_day(subscription.tenant, now):
            subscription.status = Status.EXPIRED
            subscription.save(update_fields=["status", "updated_at"])
            tenant_ids.add(subscription.tenant_id)
            expired += 1
    for tenant_id in sorted(tenant_ids):  # a tenant's last paid period may have ended
        stripe_sync.cancel_usage_after_commit(tenant_id)
    return expired


def _lock_store(store: Store) -> None:
    Store.unscoped.select_for_update().filter(pk=store.pk).first()


def _refuse_overlap(store: Store, starts_on: date, ends_on: date) -> None:
    """No two periods of one store cover the same day: live and ended (expired) periods in
    full, a cancelled one up to the day before it was cancelled."""
    candidates = StoreSubscription.unscoped.filter(
        store_id=store.pk, starts_on__lte=ends_on, ends_on__gte=starts_on)
    for other in candidates.select_related("tenant"):
        if other.status == Status.CANCELLED:
            last = (local_day(other.tenant, other.cancelled_at) - timedelta(days=1)
                    if other.cancelled_at else other.starts_on - timedelta(days=1))
            if last < starts_on or last < other.starts_on:
                continue
        raise BillingError(_("Store %(store)s already has a subscription for part of this "
                             "period.") % {"store": store.display_name})


def _record(action: str, subscription: StoreSubscription, by: User | None) -> None:
    version = subscription.pack_version
    record(action, tenant=subscription.tenant, actor=by, target=str(subscription.store),
           details={"subscription_id": subscription.pk, "pack": version.pack.code,
                    "version": version.number, "status": subscription.status,
                    "starts_on": subscription.starts_on.isoformat(),
                    "ends_on": subscription.ends_on.isoformat()})
