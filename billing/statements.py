"""Monthly usage statements: drawing them up from the ledger, the review workflow, exports.

Rules (see README, "Finance"):
- Overage: every overage call settled on a local day of the month, at the unit price
  recorded in the ledger when it was charged (so price versions are exact).
- Licence: the yearly licence of each store subscription is billed in full in the month its
  period starts (`starts_on`), at its pack version's price. Trials are free.
- Money is Decimal CNY, exact to the fen; sums of two-place Decimals are never rounded.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

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
    StoreSubscription,
    StripeInvoice,
    UsageEvent,
    UsageStatement,
)
from billing.quota import local_day, month_bounds
from kernel.money import format_cny
from stores.models import Store
from tenants.models import Tenant, User
from tenants.roles import StaffPermission, staff_role_allows

ZERO = Decimal("0.00")
Status = UsageStatement.Status


class StatementError(Exception):
    """A change the statement's status does not allow; the message says why."""


def previous_month(day: date) -> date:
    first = day.replace(day=1)
    return (first.replace(year=first.year - 1, month=12) if first.month == 1
            else first.replace(month=first.month - 1))


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


def compute_lines(tenant: Tenant, period: date) -> list[_Line]:
    """One line per store that has a licence or usage in the month, from the ledger."""
    first, last = month_bounds(period)
    lines: dict[int, _Line] = {}
    stores = {s.pk: s for s in Store.unscoped.filter(tenant=tenant)}

    def line(store_id: int) -> _Line:
        if store_id not in lines:
            lines[store_id] = _Line(store=stores[store_id], overage_detail=[])
        return lines[store_id]

    licences = (StoreSubscription.unscoped.filter(tenant=tenant, starts_on__range=(first, last))
                .exclude(status=StoreSubscription.Status.TRIAL)
                .select_related("pack_version"))
    for subscription in licences:
        line(subscription.store_id).licence_amount += \
            subscription.pack_version.licence_price_per_year
    rows = (UsageEvent.unscoped.filter(tenant=tenant, day__range=(first, last))
            .values("store_id", "kind", "unit_price")
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


def draw_up(tenant: Tenant, period: date, *, by: User | None = None) -> UsageStatement:
    """The tenant's draft statement for the month, made or redrawn from the ledger.
    Idempotent: a draft is replaced by the same figures; a statement past draft (under
    review, approved, issued, paid) is never changed and is returned as it is."""
    period = period.replace(day=1)
    with transaction.atomic():
        statement, created = UsageStatement.unscoped.select_for_update().get_or_create(
            tenant=tenant, period=period, defaults={"generated_at": timezone.now()})
        if statement.status != Status.DRAFT:
            return statement
        computed = compute_lines(tenant, period)
        before = (statement.total, statement.included_calls, statement.overage_calls)
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
        statement.save()
        after = (statement.total, statement.included_calls, statement.overage_calls)
        if created or before != after:
            StatementEvent.objects.create(statement=statement, actor=by,
                                          to_status=Status.DRAFT)
            record(AuditEvent.Action.STATEMENT_DRAWN_UP, tenant=tenant, actor=by,
                   target=str(statement),
                   details={"statement_id": statement.pk, "period": f"{period:%Y-%m}",
                            "total": str(statement.total), "redrawn": not created})
    return statement


def _tenants_with_stores():
    return Tenant.objects.filter(pk__in=Store.unscoped.values("tenant_id")).order_by("pk")


def draw_up_month(period: date, *, by: User | None = None) -> int:
    """Drafts for every tenant with stores, for one month. Returns how many drafts were drawn
    up or redrawn; statements past draft are left as they are and not counted."""
    return sum(draw_up(tenant, period, by=by).status == Status.DRAFT
               for tenant in _tenants_with_stores())


def draw_up_last_month() -> int:
    """The django-q2 schedule (monthly): drafts for each tenant's previous local month.
    Returns how many drafts were drawn up or redrawn."""
    return sum(draw_up(tenant, previous_month(local_day(tenant))).status == Status.DRAFT
               for tenant in _tenants_with_stores())


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
    Transition("pay", gettext_lazy("Mark paid"), (Status.ISSUED,),
               Status.PAID, StaffPermission.MANAGE_FINANCE),
)}


def allowed_transitions(statement: UsageStatement, user: User) -> list[Transition]:
    return [t for t in TRANSITIONS.values()
            if statement.status in t.source and _may(user, t.permission)]


def _may(user: User, permission: StaffPermission) -> bool:
    return bool(user and user.is_isv_staff and staff_role_allows(user.staff_role, permission))


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
        statement = UsageStatement.unscoped.select_for_update().get(pk=statement.pk)
        if statement.status not in transition.source:
            raise StatementError(_("A statement that is %(status)s cannot be changed this way.")
                                 % {"status": statement.get_status_display()})
        before = statement.status
        statement.status = transition.target
        statement.save(update_fields=["status", "updated_at"])
        StatementEvent.objects.create(statement=statement, actor=by, from_status=before,
                                      to_status=transition.target, comment=comment.strip())
        record(AuditEvent.Action.STATEMENT_STATUS_CHANGED, tenant=statement.tenant, actor=by,
               target=str(statement),
               details={"statement_id": statement.pk, "before": before,
                        "after": transition.target, "comment": comment.strip()})
    return statement


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


# Drill-down --------------------------------------------------------------------------------

def jobs_of(statement: UsageStatement) -> list[dict]:
    """Per generation job: included and overage calls and amount, summed in the database.
    Ledger rows are keyed by generation item (`gen:<item>:<generation>`, see
    GenerationItem.quota_key): the item id is cut out of the key in SQL and the item names
    its job."""
    from generation.models import GenerationItem, GenerationJob  # generation builds on billing

    first, last = month_bounds(statement.period)
    after_prefix = Substr("item_key", len("gen:") + 1)
    item_id = Cast(Substr(after_prefix, 1,
                          StrIndex(Concat(after_prefix, Value(":")), Value(":")) - 1),
                   IntegerField())
    job_of_item = GenerationItem.unscoped.filter(pk=OuterRef("item_id")).values("job_id")
    rows = {row.pop("job_id"): row for row in (
        UsageEvent.unscoped.filter(tenant_id=statement.tenant_id, day__range=(first, last),
                                   item_key__startswith="gen:")
        .annotate(item_id=item_id).annotate(job_id=Subquery(job_of_item))
        .values("job_id")
        .annotate(included=Count("id", filter=_kind(UsageEvent.Kind.INCLUDED)),
                  overage=Count("id", filter=_kind(UsageEvent.Kind.OVERAGE)),
                  amount=Coalesce(Sum("unit_price", filter=_kind(UsageEvent.Kind.OVERAGE)),
                                  ZERO, output_field=DecimalField()))
        .order_by())}
    jobs = GenerationJob.unscoped.filter(pk__in=[pk for pk in rows if pk is not None])
    return [{"job": job, **rows[job.pk]}
            for job in jobs.select_related("store", "created_by").order_by("created_at", "pk")]


def _kind(kind: str) -> Q:
    return Q(kind=kind)


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


def _title_rows(statement: UsageStatement) -> list[list]:
    return [[_("Usage statement"), statement.tenant.name],
            [_("Month"), f"{statement.period:%Y-%m}"],
            [_("Status"), str(statement.get_status_display())], []]


def export_csv(statement: UsageStatement) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in [*_title_rows(statement), _header(), *export_rows(statement)]:
        writer.writerow([format_cny(v, grouping=False) if isinstance(v, Decimal) else str(v)
                         for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel reads UTF-8


def export_xlsx(statement: UsageStatement) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = f"{statement.period:%Y-%m}"
    for row in _title_rows(statement):
        sheet.append(row)
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
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# Reconciliation ----------------------------------------------------------------------------

def stripe_invoices_of(tenant: Tenant, period: date) -> list[StripeInvoice]:
    first, last = month_bounds(period)
    return list(StripeInvoice.unscoped.filter(
        tenant=tenant, period_start__date__gte=first, period_start__date__lte=last,
    ).order_by("period_start", "pk"))
