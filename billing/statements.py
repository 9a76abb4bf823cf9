"""Monthly usage statements: drawing them up from the ledger, provisional months,
adjustments, the review workflow with four eyes, payments, exports and reconciliation.

Rules (see README, "Finance"):
- A statement bills rows: each ledger row (`UsageEvent.statement`) and each licence
  (`StoreSubscription.licence_statement`) is bound to exactly one statement when a draft is
  drawn up. The header, the lines, the by-day and the by-job figures are all sums over those
  rows, so they always agree.
- Overage: every overage call settled on a local day of the month, at the unit price
  recorded in the ledger when it was charged (so price versions are exact).
- Licence: the yearly licence of each store subscription is billed in full in the month its
  period starts (`starts_on`), at its pack version's price. Trials are free.
- A month that has not ended in the tenant's time zone is provisional: its draft can be drawn
  up and read, not submitted or issued.
- Rows that reach the ledger after the month's statement was issued go on a numbered
  adjustment (`<number>-A1`, a supplementary statement referring to the original) with its
  own review.
- Money is Decimal CNY, exact to the fen; sums of two-place Decimals are never rounded.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Count,
    DecimalField,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Concat, StrIndex, Substr
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.models import AuditEvent
from audit.services import record
from billing.models import (
    StatementEvent,
    StatementLine,
    StatementPayment,
    StoreSubscription,
    StripeInvoice,
    UsageEvent,
    UsageStatement,
)
from billing.quota import local_day, month_bounds
from kernel.mail import send_in_both_languages
from kernel.money import format_cny, to_cny
from stores.models import Store
from tenants.models import Tenant, User
from tenants.roles import StaffPermission, staff_role_allows

ZERO = Decimal("0.00")
Status = UsageStatement.Status
# Statements whose figures may still change, or that are on their way to the seller.
IN_REVIEW = (Status.UNDER_REVIEW, Status.APPROVED)


class StatementError(Exception):
    """A change the statement's status does not allow; the message says why."""


def previous_month(day: date) -> date:
    first = day.replace(day=1)
    return (first.replace(year=first.year - 1, month=12) if first.month == 1
            else first.replace(month=first.month - 1))


def number_for(tenant_id: int, period: date, sequence: int) -> str:
    """The statement number printed on the bill: ST-<yyyymm>-<tenant>, adjustments -A<n>."""
    base = f"ST-{period:%Y%m}-{tenant_id:05d}"
    return f"{base}-A{sequence}" if sequence else base


def is_provisional(statement: UsageStatement) -> bool:
    """True while the statement's month has not ended in the tenant's time zone."""
    return month_bounds(statement.period)[1] >= local_day(statement.tenant)


def month_ends_text(statement: UsageStatement) -> str:
    last = month_bounds(statement.period)[1]
    return f"{last:%Y-%m-%d} 24:00 ({statement.tenant.time_zone})"


# Drawing up --------------------------------------------------------------------------------

@dataclass
class _Line:
    store: Store
    licence_amount: Decimal = ZERO
    included_calls: int = 0
    overage_calls: int = 0
    overage_amount: Decimal = ZERO
    overage_detail: list | None = None

    @property
    def total(self) -> Decimal:
        return self.licence_amount + self.overage_amount


def _lines_from(tenant: Tenant, events, licences) -> list[_Line]:
    lines: dict[int, _Line] = {}
    stores = {s.pk: s for s in Store.unscoped.filter(tenant=tenant)}

    def line(store_id: int) -> _Line:
        if store_id not in lines:
            lines[store_id] = _Line(store=stores[store_id], overage_detail=[])
        return lines[store_id]

    for subscription in licences.select_related("pack_version"):
        line(subscription.store_id).licence_amount += \
            subscription.pack_version.licence_price_per_year
    rows = (events.values("store_id", "kind", "unit_price")
            .annotate(calls=Count("id"), amount=Sum("unit_price"))
            .order_by("store_id", "kind", "unit_price"))
    for row in rows:
        target = line(row["store_id"])
        if row["kind"] == UsageEvent.Kind.INCLUDED:
            target.included_calls += row["calls"]
            continue
        target.overage_calls += row["calls"]
        target.overage_amount += row["amount"]
        target.overage_detail.append({"unit_price": str(row["unit_price"]),
                                      "calls": row["calls"], "amount": str(row["amount"])})
    return sorted(lines.values(), key=lambda x: (x.store.display_name, x.store.pk))


def _licences_of_month(tenant: Tenant, period: date):
    first, last = month_bounds(period)
    return (StoreSubscription.unscoped.filter(tenant=tenant, starts_on__range=(first, last))
            .exclude(status=StoreSubscription.Status.TRIAL))


def _events_of_month(tenant: Tenant, period: date):
    first, last = month_bounds(period)
    return UsageEvent.unscoped.filter(tenant=tenant, day__range=(first, last))


def unbilled_of(tenant: Tenant, period: date) -> tuple[int, int]:
    """Ledger rows and licences of the month that no statement bills yet: (calls, licences)."""
    return (_events_of_month(tenant, period).filter(statement__isnull=True).count(),
            _licences_of_month(tenant, period).filter(licence_statement__isnull=True).count())


def draw_up(tenant: Tenant, period: date, *, by: User | None = None) -> UsageStatement:
    """Draw up the tenant's statement of the month from the ledger and return it.

    While the month's statement is a draft it is redrawn (idempotent: the same rows give the
    same figures). Once it is under review or approved it is returned unchanged; rows that
    arrive meanwhile wait, unbilled. Once it is issued (or paid), rows no statement bills yet
    go on an adjustment: the open adjustment draft is redrawn, or a new one (A1, A2, ...) is
    made when there are such rows. The latest statement of the month is returned."""
    period = period.replace(day=1)
    with transaction.atomic():
        original, created = UsageStatement.unscoped.select_for_update().get_or_create(
            tenant=tenant, period=period, sequence=0,
            defaults={"generated_at": timezone.now(),
                      "number": number_for(tenant.pk, period, 0)})
        latest = (UsageStatement.unscoped.filter(tenant=tenant, period=period)
                  .order_by("-sequence").first())
        if latest.status == Status.DRAFT:
            return _redraw(latest, by=by, created=created)
        if latest.status in IN_REVIEW:
            return latest
        if unbilled_of(tenant, period) == (0, 0):
            return latest
        adjustment = UsageStatement.unscoped.create(
            tenant=tenant, period=period, sequence=latest.sequence + 1, adjusts=original,
            number=number_for(tenant.pk, period, latest.sequence + 1),
            generated_at=timezone.now())
        return _redraw(adjustment, by=by, created=True)


def _redraw(statement: UsageStatement, *, by: User | None, created: bool) -> UsageStatement:
    """Bind the month's rows no other statement bills to this draft, and sum them."""
    tenant, period = statement.tenant, statement.period
    before = (statement.total, statement.included_calls, statement.overage_calls)
    UsageEvent.unscoped.filter(statement=statement).update(statement=None)
    StoreSubscription.unscoped.filter(licence_statement=statement).update(
        licence_statement=None)
    _events_of_month(tenant, period).filter(statement__isnull=True).update(
        statement=statement)
    _licences_of_month(tenant, period).filter(licence_statement__isnull=True).update(
        licence_statement=statement)
    computed = _lines_from(tenant, UsageEvent.unscoped.filter(statement=statement),
                           StoreSubscription.unscoped.filter(licence_statement=statement))
    statement.lines.all().delete()
    StatementLine.objects.bulk_create(StatementLine(
        statement=statement, store=x.store, licence_amount=x.licence_amount,
        included_calls=x.included_calls, overage_calls=x.overage_calls,
        overage_amount=x.overage_amount, overage_detail=x.overage_detail, total=x.total)
        for x in computed)
    statement.licence_amount = sum((x.licence_amount for x in computed), ZERO)
    statement.included_calls = sum(x.included_calls for x in computed)
    statement.overage_calls = sum(x.overage_calls for x in computed)
    statement.overage_amount = sum((x.overage_amount for x in computed), ZERO)
    statement.total = statement.licence_amount + statement.overage_amount
    statement.generated_at = timezone.now()
    after = (statement.total, statement.included_calls, statement.overage_calls)
    changed = created or before != after
    if changed and by is not None:
        statement.drawn_up_by = by
    statement.save()
    if changed:
        StatementEvent.objects.create(statement=statement, actor=by, to_status=Status.DRAFT)
        record(AuditEvent.Action.STATEMENT_DRAWN_UP, tenant=tenant, actor=by,
               target=str(statement),
               details={"statement_id": statement.pk, "number": statement.number,
                        "period": f"{period:%Y-%m}", "total": str(statement.total),
                        "redrawn": not created, "adjusts": statement.adjusts_id})
    return statement


def _tenants_with_stores():
    return Tenant.objects.filter(pk__in=Store.unscoped.values("tenant_id")).order_by("pk")


def has_month_to_bill(tenant: Tenant, period: date) -> bool:
    """Whether the month needs a statement: a store subscription covered one of its days, or
    one exists already. A month before the tenant's first subscription gets none (a bill of
    0.00 for a month nobody subscribed is noise, not a record)."""
    first, last = month_bounds(period)
    return (StoreSubscription.unscoped.filter(tenant=tenant, starts_on__lte=last,
                                              ends_on__gte=first).exists()
            or UsageStatement.unscoped.filter(tenant=tenant, period=first).exists())


def draw_up_month(period: date, *, by: User | None = None) -> int:
    """Drafts (statements or adjustments) for every tenant with a month to bill. Returns how
    many drafts were drawn up or redrawn; statements under review or approved are left as
    they are and not counted."""
    return sum(draw_up(tenant, period, by=by).status == Status.DRAFT
               for tenant in _tenants_with_stores() if has_month_to_bill(tenant, period))


def draw_up_last_month() -> int:
    """The django-q2 schedule (monthly): drafts for each tenant's previous local month, and
    adjustments for any earlier month with late usage that no statement bills yet.
    Returns how many drafts were drawn up or redrawn."""
    drafts = 0
    for tenant in _tenants_with_stores():
        last_month = previous_month(local_day(tenant))
        if has_month_to_bill(tenant, last_month):
            drafts += draw_up(tenant, last_month).status == Status.DRAFT
        for period in _months_with_late_usage(tenant, before=last_month):
            drafts += draw_up(tenant, period).status == Status.DRAFT
    return drafts


def _months_with_late_usage(tenant: Tenant, *, before: date) -> list[date]:
    """Months before `before` with a statement and ledger rows that none bills."""
    periods = set(UsageStatement.unscoped.filter(tenant=tenant, sequence=0, period__lt=before)
                  .values_list("period", flat=True))
    return sorted(p for p in periods if unbilled_of(tenant, p) != (0, 0))


# Workflow ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Transition:
    name: str
    label: object
    source: tuple[str, ...]
    target: str
    permission: StaffPermission


TRANSITIONS = {t.name: t for t in (
    Transition("submit", gettext_lazy("Submit for review"), (Status.DRAFT,),
               Status.UNDER_REVIEW, StaffPermission.VIEW_FINANCE),
    Transition("return", gettext_lazy("Return to draft"), (Status.UNDER_REVIEW,),
               Status.DRAFT, StaffPermission.MANAGE_FINANCE),
    Transition("approve", gettext_lazy("Approve"), (Status.UNDER_REVIEW,),
               Status.APPROVED, StaffPermission.MANAGE_FINANCE),
    Transition("issue", gettext_lazy("Issue to the seller"), (Status.APPROVED,),
               Status.ISSUED, StaffPermission.MANAGE_FINANCE),
)}


def allowed_transitions(statement: UsageStatement, user: User) -> list[Transition]:
    return [t for t in TRANSITIONS.values()
            if statement.status in t.source and _may(user, t.permission)
            and not _refusal(statement, t.name, user)]


def _may(user: User, permission: StaffPermission) -> bool:
    return bool(user and user.is_isv_staff and staff_role_allows(user.staff_role, permission))


def _refusal(statement: UsageStatement, name: str, user: User) -> str:
    """Why `user` may not take this step now (four eyes, provisional month), or ""."""
    if name in ("submit", "approve", "issue") and is_provisional(statement):
        return _("The month has not ended in the seller's time zone (it ends %(end)s): this "
                 "statement is provisional. It can be drawn up and read, not submitted, "
                 "approved or issued.") % {"end": month_ends_text(statement)}
    if (name == "approve" and settings.BILLING_FOUR_EYES
            and user.pk in (statement.drawn_up_by_id, statement.submitted_by_id)):
        return _("Four eyes: you drew up or submitted this statement, so another finance "
                 "user must approve it.")
    return ""


def change_status(statement: UsageStatement, name: str, *, by: User,
                  comment: str = "") -> UsageStatement:
    transition = TRANSITIONS.get(name)
    if transition is None:
        raise StatementError(_("Unknown action."))
    if not _may(by, transition.permission):
        raise StatementError(_("You may not do this to a statement."))
    if name == "return" and not comment.strip():
        raise StatementError(_("Say why the statement goes back to draft."))
    with transaction.atomic():
        statement = (UsageStatement.unscoped.select_for_update().select_related("tenant")
                     .get(pk=statement.pk))
        if statement.status not in transition.source:
            raise StatementError(_("A statement that is %(status)s cannot be changed this way.")
                                 % {"status": statement.get_status_display()})
        refusal = _refusal(statement, name, by)
        if refusal:
            raise StatementError(refusal)
        before = statement.status
        statement.status = transition.target
        fields = ["status", "updated_at"]
        if name == "submit":
            statement.submitted_by, statement.approved_by = by, None
            fields += ["submitted_by", "approved_by"]
        elif name == "return":
            statement.submitted_by = None
            fields += ["submitted_by"]
        elif name == "approve":
            statement.approved_by = by
            fields += ["approved_by"]
        elif name == "issue":
            statement.issued_at = timezone.now()
            statement.issuer, statement.billed_to = issuer_details(), billed_to_details(
                statement.tenant)
            fields += ["issued_at", "issuer", "billed_to"]
        statement.save(update_fields=fields)
        StatementEvent.objects.create(statement=statement, actor=by, from_status=before,
                                      to_status=transition.target, comment=comment.strip())
        record(AuditEvent.Action.STATEMENT_STATUS_CHANGED, tenant=statement.tenant, actor=by,
               target=str(statement),
               details={"statement_id": statement.pk, "before": before,
                        "after": transition.target, "comment": comment.strip()})
        if name == "issue":
            _email_after_commit(statement, "issued")
    return statement


def record_payment(statement: UsageStatement, *, amount: Decimal, paid_on: date,
                   method: str, reference: str, by: User) -> StatementPayment:
    """*Mark paid*: a payment of `amount` received on `paid_on` by `method` (`reference`:
    the bank or payment reference). Less than what is outstanding is a partial payment
    (status "partially paid"); the statement is paid when the payments add up to its
    total. More than the outstanding amount is refused."""
    if not _may(by, StaffPermission.MANAGE_FINANCE):
        raise StatementError(_("You may not do this to a statement."))
    if method not in StatementPayment.Method.values:
        raise StatementError(_("Choose how the statement was paid."))
    if not reference.strip():
        raise StatementError(_("Give the payment's reference (bank or payment transaction "
                               "number)."))
    if to_cny(amount) != amount:
        raise StatementError(_("Give the amount in yuan with at most two decimals."))
    amount = to_cny(amount)
    with transaction.atomic():
        statement = (UsageStatement.unscoped.select_for_update().select_related("tenant")
                     .get(pk=statement.pk))
        if statement.status not in (Status.ISSUED, Status.PARTIALLY_PAID):
            raise StatementError(_("Only an issued statement can be marked paid; this one is "
                                   "%(status)s.") % {"status": statement.get_status_display()})
        outstanding = statement.outstanding
        if amount < ZERO or (amount == ZERO and outstanding > ZERO):
            raise StatementError(_("The amount paid must be more than 0.00."))
        if amount > outstanding:
            raise StatementError(_("CNY %(amount)s is more than the CNY %(outstanding)s still "
                                   "outstanding on this statement.")
                                 % {"amount": format_cny(amount),
                                    "outstanding": format_cny(outstanding)})
        if statement.issued_at and paid_on > local_day(statement.tenant):
            raise StatementError(_("The payment date cannot be in the future."))
        payment = StatementPayment.objects.create(
            statement=statement, amount=amount, paid_on=paid_on, method=method,
            reference=reference.strip(), recorded_by=by)
        before = statement.status
        statement.amount_paid += amount
        statement.status = (Status.PAID if statement.amount_paid == statement.total
                            else Status.PARTIALLY_PAID)
        statement.save(update_fields=["amount_paid", "status", "updated_at"])
        comment = _("Payment of CNY %(amount)s on %(day)s by %(method)s, reference "
                    "%(reference)s.") % {"amount": format_cny(amount), "day": f"{paid_on:%Y-%m-%d}",
                                         "method": payment.get_method_display(),
                                         "reference": payment.reference}
        StatementEvent.objects.create(statement=statement, actor=by, from_status=before,
                                      to_status=statement.status, comment=comment)
        record(AuditEvent.Action.STATEMENT_STATUS_CHANGED, tenant=statement.tenant, actor=by,
               target=str(statement),
               details={"statement_id": statement.pk, "before": before,
                        "after": statement.status, "payment_id": payment.pk,
                        "amount": str(amount), "paid_on": paid_on.isoformat(),
                        "method": method, "reference": payment.reference})
        _email_after_commit(statement, "paid")
    return payment


def add_comment(statement: UsageStatement, comment: str, *, by: User) -> StatementEvent:
    if not comment.strip():
        raise StatementError(_("The comment is empty."))
    if not _may(by, StaffPermission.VIEW_FINANCE):
        raise StatementError(_("You may not do this to a statement."))
    event = StatementEvent.objects.create(statement=statement, actor=by,
                                          comment=comment.strip())
    record(AuditEvent.Action.STATEMENT_COMMENTED, tenant=statement.tenant, actor=by,
           target=str(statement), details={"statement_id": statement.pk,
                                           "comment": comment.strip()})
    return event


# Legal details and e-mail ------------------------------------------------------------------

def issuer_details() -> dict:
    """The ISV's legal details printed on every statement (settings BILLING_ISV_*)."""
    return {"name": settings.BILLING_ISV_LEGAL_NAME, "tax_id": settings.BILLING_ISV_TAX_ID,
            "address": settings.BILLING_ISV_ADDRESS, "bank": settings.BILLING_ISV_BANK_ACCOUNT}


def billed_to_details(tenant: Tenant) -> dict:
    """The seller's company name and tax id: in China the business licence's unified social
    credit code is the taxpayer identification number."""
    return {"name": tenant.name, "tax_id": tenant.licence_number,
            "legal_representative": tenant.legal_representative}


def issuer_of(statement: UsageStatement) -> dict:
    return statement.issuer or issuer_details()


def billed_to_of(statement: UsageStatement) -> dict:
    return statement.billed_to or billed_to_details(statement.tenant)


def _email_after_commit(statement: UsageStatement, event: str) -> None:
    statement_id = statement.pk
    # Robust: a mail server that is down must not turn the recorded change into an error page
    # (Django logs the failure).
    transaction.on_commit(lambda: send_statement_email(statement_id, event), robust=True)


def send_statement_email(statement_id: int, event: str) -> int:
    """E-mail the tenant's owners (Chinese and English) that a statement was issued or a
    payment recorded. Returns how many recipients."""
    from django.urls import reverse

    from tenants.models import Membership
    from tenants.roles import TenantRole

    statement = UsageStatement.unscoped.select_related("tenant").get(pk=statement_id)
    tenant = statement.tenant
    recipients = sorted(Membership.unscoped.filter(
        tenant=tenant, role=TenantRole.OWNER, user__is_active=True,
    ).values_list("user__email", flat=True))
    if not recipients:
        return 0
    link = settings.SITE_URL.rstrip("/") + reverse("statement", args=[statement.pk])
    return send_in_both_languages(f"billing/email/statement_{event}", {
        "statement": statement, "tenant": tenant, "link": link,
        "payments": list(statement.payments.all()), "event": event,
    }, recipients, zone=tenant.zone)


# Drill-down --------------------------------------------------------------------------------

@dataclass
class DayRow:
    store: Store
    day: date
    included_calls: int
    overage_calls: int
    overage_amount: Decimal


def days_of(statement: UsageStatement) -> list[DayRow]:
    """The statement's own ledger rows per store and local day (by store name, then day)."""
    stores = {s.pk: s for s in Store.unscoped.filter(tenant_id=statement.tenant_id)}
    rows = (UsageEvent.unscoped.filter(statement=statement).values("store_id", "day")
            .annotate(included=Count("id", filter=_kind(UsageEvent.Kind.INCLUDED)),
                      overage=Count("id", filter=_kind(UsageEvent.Kind.OVERAGE)),
                      amount=Coalesce(Sum("unit_price", filter=_kind(UsageEvent.Kind.OVERAGE)),
                                      ZERO, output_field=DecimalField()))
            .order_by())
    result = [DayRow(store=stores[r["store_id"]], day=r["day"], included_calls=r["included"],
                     overage_calls=r["overage"], overage_amount=r["amount"]) for r in rows]
    return sorted(result, key=lambda r: (r.store.display_name, r.store.pk, r.day))


def _item_id():
    after_prefix = Substr("item_key", len("gen:") + 1)
    return Cast(Substr(after_prefix, 1,
                       StrIndex(Concat(after_prefix, Value(":")), Value(":")) - 1),
                IntegerField())


def jobs_of(statement: UsageStatement) -> list[dict]:
    """Per generation job: included and overage calls and amount of the statement's own
    ledger rows, summed in the database. Ledger rows are keyed by generation item
    (`gen:<item>:<generation>`, see GenerationItem.quota_key): the item id is cut out of the
    key in SQL and the item names its job. Rows of no job (none in normal use) are one last
    row with `job` None, so the table adds up to the header."""
    from generation.models import GenerationItem, GenerationJob  # generation builds on billing

    job_of_item = GenerationItem.unscoped.filter(pk=OuterRef("item_id")).values("job_id")
    generated = Q(item_key__startswith="gen:")
    rows = {row.pop("job_id"): row for row in (
        UsageEvent.unscoped.filter(statement=statement).filter(generated)
        .annotate(item_id=_item_id()).annotate(job_id=Subquery(job_of_item))
        .values("job_id")
        .annotate(**_sums())
        .order_by())}
    other = UsageEvent.unscoped.filter(statement=statement).exclude(generated).aggregate(
        **_sums())
    jobs = GenerationJob.unscoped.filter(pk__in=[pk for pk in rows if pk is not None])
    result = [{"job": job, **rows.pop(job.pk)}
              for job in jobs.select_related("store", "created_by").order_by("created_at", "pk")]
    for row in [*rows.values(), other]:  # rows of deleted jobs, and of no job
        if row["included"] or row["overage"]:
            if result and result[-1]["job"] is None:
                last = result[-1]
                for key in ("included", "overage", "amount"):
                    last[key] += row[key]
            else:
                result.append({"job": None, **row})
    return result


def _sums() -> dict:
    return {"included": Count("id", filter=_kind(UsageEvent.Kind.INCLUDED)),
            "overage": Count("id", filter=_kind(UsageEvent.Kind.OVERAGE)),
            "amount": Coalesce(Sum("unit_price", filter=_kind(UsageEvent.Kind.OVERAGE)),
                               ZERO, output_field=DecimalField())}


def _kind(kind: str) -> Q:
    return Q(kind=kind)


@dataclass
class StatementView:
    """Everything a statement page, print and export show, from the statement's own rows."""

    statement: UsageStatement
    lines: list
    days: list[DayRow]
    jobs: list[dict]
    issuer: dict
    billed_to: dict
    provisional: bool
    payments: list = field(default_factory=list)
    adjustments: list = field(default_factory=list)
    unbilled_calls: int = 0
    unbilled_licences: int = 0


def statement_view(statement: UsageStatement) -> StatementView:
    unbilled = unbilled_of(statement.tenant, statement.period)
    return StatementView(
        statement=statement, lines=list(statement.lines.select_related("store")),
        days=days_of(statement), jobs=jobs_of(statement), issuer=issuer_of(statement),
        billed_to=billed_to_of(statement), provisional=is_provisional(statement),
        payments=list(statement.payments.select_related("recorded_by")),
        adjustments=list(UsageStatement.unscoped.filter(
            tenant_id=statement.tenant_id, period=statement.period)
            .exclude(pk=statement.pk).order_by("sequence")),
        unbilled_calls=unbilled[0], unbilled_licences=unbilled[1])


# Exports -----------------------------------------------------------------------------------

def _header() -> list[str]:
    return [_("Store"), _("Marketplace site"), _("Licence (CNY)"), _("Included calls used"),
            _("Overage calls"), _("Overage unit price (CNY)"), _("Overage (CNY)"),
            _("Total (CNY)")]


def export_rows(statement: UsageStatement) -> list[list]:
    rows = []
    for line in statement.lines.select_related("store"):
        prices = " + ".join(f"{d['calls']} × {format_cny(d['unit_price'])}"
                            for d in line.overage_detail)
        rows.append([line.store.display_name, line.store.site.label, line.licence_amount,
                     line.included_calls, line.overage_calls, prices, line.overage_amount,
                     line.total])
    rows.append([_("Total"), "", statement.licence_amount, statement.included_calls,
                 statement.overage_calls, "", statement.overage_amount, statement.total])
    return rows


def _day_header() -> list[str]:
    return [_("Store"), _("Day"), _("Included calls"), _("Overage calls"), _("Overage (CNY)")]


def day_rows(view: StatementView) -> list[list]:
    rows = [[d.store.display_name, f"{d.day:%Y-%m-%d}", d.included_calls, d.overage_calls,
             d.overage_amount] for d in view.days]
    rows.append([_("Total"), "", sum(d.included_calls for d in view.days),
                 sum(d.overage_calls for d in view.days),
                 sum((d.overage_amount for d in view.days), ZERO)])
    return rows


def _job_header() -> list[str]:
    return [_("Job"), _("Store"), _("Started"), _("Started by"), _("Included calls"),
            _("Overage calls"), _("Overage (CNY)")]


def job_rows(view: StatementView) -> list[list]:
    rows = []
    for row in view.jobs:
        job = row["job"]
        if job is None:
            rows.append([_("Calls outside generation jobs"), "", "", "", row["included"],
                         row["overage"], row["amount"]])
            continue
        started = timezone.localtime(job.created_at, view.statement.tenant.zone)
        rows.append([f"#{job.pk}", job.store.display_name, f"{started:%Y-%m-%d %H:%M}",
                     job.created_by.email if job.created_by else "", row["included"],
                     row["overage"], row["amount"]])
    rows.append([_("Total"), "", "", "", sum(r["included"] for r in view.jobs),
                 sum(r["overage"] for r in view.jobs),
                 sum((r["amount"] for r in view.jobs), ZERO)])
    return rows


def _title_rows(view: StatementView) -> list[list]:
    statement, issuer, billed = view.statement, view.issuer, view.billed_to
    rows = [[_("Usage statement"), statement.tenant.name],
            [_("Month"), f"{statement.period:%Y-%m}"],
            [_("Statement number"), statement.number],
            [_("Status"), str(statement.get_status_display())
             + (f" ({_('provisional')})" if view.provisional else "")]]
    if statement.adjusts_id:
        rows.append([_("Adjustment to statement"), statement.adjusts.number])
    if statement.issued_at:
        issued = timezone.localtime(statement.issued_at, statement.tenant.zone)
        rows.append([_("Issued"), f"{issued:%Y-%m-%d}"])
    rows += [[_("Issued by"), issuer.get("name", "")], [_("Tax ID"), issuer.get("tax_id", "")],
             [_("Address"), issuer.get("address", "")],
             [_("Bank account"), issuer.get("bank", "")],
             [_("Billed to"), billed.get("name", "")],
             [_("Tax ID (unified social credit code)"), billed.get("tax_id", "")],
             [_("Amount paid (CNY)"), statement.amount_paid],
             [_("Outstanding (CNY)"), statement.outstanding], []]
    return rows


def _payment_rows(view: StatementView) -> list[list]:
    return [[f"{p.paid_on:%Y-%m-%d}", str(p.get_method_display()), p.reference, p.amount]
            for p in view.payments]


def _payment_header() -> list[str]:
    return [_("Paid on"), _("Method"), _("Reference"), _("Amount (CNY)")]


def export_csv(statement: UsageStatement) -> bytes:
    view = statement_view(statement)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    sections = [*_title_rows(view), _header(), *export_rows(statement),
                [], [_("By day")], _day_header(), *day_rows(view),
                [], [_("By job")], _job_header(), *job_rows(view)]
    if view.payments:
        sections += [[], [_("Payments")], _payment_header(), *_payment_rows(view)]
    for row in sections:
        writer.writerow([format_cny(v, grouping=False) if isinstance(v, Decimal) else str(v)
                         for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel reads UTF-8


def export_xlsx(statement: UsageStatement) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    view = statement_view(statement)
    book = Workbook()
    sheet = book.active
    sheet.title = f"{statement.period:%Y-%m}"
    for row in _title_rows(view):
        sheet.append(row)
    for row in sheet.iter_rows(min_row=1, max_row=sheet.max_row):
        if isinstance(row[1].value, Decimal):
            row[1].number_format = "#,##0.00"
    sheet.append(_header())
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
    for row in export_rows(statement):
        sheet.append(row)  # Decimals stay exact numbers
    for row in sheet.iter_rows(min_row=header_row + 1):
        for index in (2, 6, 7):
            row[index].number_format = "#,##0.00"
    sheet[f"A{sheet.max_row}"].font = Font(bold=True)
    for column, width in zip("ABCDEFGH", (28, 22, 14, 18, 14, 26, 14, 14), strict=True):
        sheet.column_dimensions[column].width = width
    drill_downs = [(_("By day"), _day_header(), day_rows(view), (4,)),
                   (_("By job"), _job_header(), job_rows(view), (6,))]
    if view.payments:
        drill_downs.append((_("Payments"), _payment_header(), _payment_rows(view), (3,)))
    for title, header, rows, money_columns in drill_downs:
        extra = book.create_sheet(title=str(title)[:31])
        extra.append(header)
        for cell in extra[1]:
            cell.font = Font(bold=True)
        for row in rows:
            extra.append(row)
        for row in extra.iter_rows(min_row=2):
            for index in money_columns:
                row[index].number_format = "#,##0.00"
        extra.column_dimensions["A"].width = 28
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# Reconciliation ----------------------------------------------------------------------------

def stripe_invoices_of(tenant: Tenant, period: date) -> list[StripeInvoice]:
    first, last = month_bounds(period)
    return list(StripeInvoice.unscoped.filter(
        tenant=tenant, period_start__date__gte=first, period_start__date__lte=last,
    ).order_by("period_start", "pk"))


@dataclass
class Difference:
    """One reason the page is not balanced, in words a person checks against: which store,
    day, job and SKU, and what is wrong."""

    problem: str
    store: str = ""
    day: date | None = None
    job_id: int | None = None
    sku: str = ""
    content: str = ""
    amount: Decimal | None = None


@dataclass
class ReconciliationView:
    result: object  # stripe_sync.Reconciliation
    statements: list[UsageStatement]
    invoices: list[StripeInvoice]
    invoiced: Decimal
    statement_total: Decimal | None
    invoice_difference: Decimal | None
    differences: list[Difference]

    @property
    def balanced(self) -> bool:
        """Balanced only when nothing on the page differs: ledger against Stripe's meter,
        and the month's statements against Stripe's invoices."""
        return not self.differences


def reconciliation_of(tenant: Tenant, period: date) -> ReconciliationView:
    from billing import stripe_sync  # stripe_sync builds on the ledger, not on statements

    first, last = month_bounds(period)
    result = stripe_sync.reconcile(tenant, first, last)
    invoices = stripe_invoices_of(tenant, period)
    invoiced = sum((i.total for i in invoices), ZERO)
    statements = list(UsageStatement.unscoped.filter(tenant=tenant, period=period)
                      .order_by("sequence"))
    statement_total = sum((s.total for s in statements), ZERO) if statements else None
    invoice_difference = ((statement_total or ZERO) - invoiced
                          if statements or invoices else None)
    differences = [*_event_differences(result.unreported, _("Not yet acknowledged by Stripe "
                                                            "(queued for the meter)")),
                   *_event_differences(result.mismatched, None)]
    if result.ledger_calls != result.acknowledged_calls and not differences:
        differences.append(Difference(
            problem=_("Stripe acknowledged %(acknowledged)s overage calls, the ledger has "
                      "%(ledger)s.") % {"acknowledged": result.acknowledged_calls,
                                        "ledger": result.ledger_calls}))
    if invoice_difference:
        differences.append(Difference(
            problem=_("The month's statements total CNY %(statements)s, Stripe invoiced CNY "
                      "%(invoiced)s.") % {"statements": format_cny(statement_total or ZERO),
                                          "invoiced": format_cny(invoiced)},
            amount=invoice_difference))
    return ReconciliationView(result=result, statements=statements, invoices=invoices,
                              invoiced=invoiced, statement_total=statement_total,
                              invoice_difference=invoice_difference, differences=differences)


def _event_differences(events: list[UsageEvent], problem: str | None) -> list[Difference]:
    """Ledger rows named by store, day, job, SKU and content, not by internal keys."""
    from generation.models import GenerationItem  # generation builds on billing

    item_ids = {}
    for event in events:
        parts = event.item_key.split(":")
        if len(parts) == 3 and parts[0] == "gen" and parts[1].isdigit():
            item_ids[event.pk] = int(parts[1])
    items = GenerationItem.unscoped.select_related("product").in_bulk(set(item_ids.values()))
    stores = {s.pk: s for s in Store.unscoped.filter(pk__in={e.store_id for e in events})}
    differences = []
    for event in events:
        item = items.get(item_ids.get(event.pk))
        text = problem or _("Stripe acknowledged it under another identifier: %(got)s") % {
            "got": event.stripe_meter_event_id}
        differences.append(Difference(
            problem=text, store=stores[event.store_id].display_name, day=event.day,
            job_id=item.job_id if item else None,
            sku=(item.product.sku or item.product.title[:40]) if item else "",
            content=(f"{item.get_kind_display()} · {item.language}" if item else ""),
            amount=event.unit_price))
    return differences
