"""Seat reads that hold a rule: the seat vocabulary and the monthly usage reports.

Vocabulary (the same everywhere: pages, API, admin, billing):
- used = active memberships + pending (unexpired, unrevoked, unaccepted) invitations;
- purchased = ``Organization.seats_purchased``, or the trial cap when there is none;
- at_renewal = ``Organization.seats_at_renewal`` when a decrease is pending, else purchased;
- cap for a new join or invitation = min(purchased, at_renewal).
"""

from __future__ import annotations

import calendar
import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection
from django.db.models import IntegerField, Max, Min, OuterRef, Subquery
from django.utils import timezone

from organizations.models import Invitation, InvitationStatus, Membership, Organization
from seats.models import SeatUsageEvent


@dataclass(frozen=True)
class SeatSummary:
    used: int
    members: int
    pending_invites: int
    purchased: int
    at_renewal: int
    cap: int
    free: int

    @property
    def decrease_pending(self) -> bool:
        return self.at_renewal < self.purchased


def seats_members(*, organization: Organization) -> int:
    return Membership.objects.filter(organization=organization).count()


def seats_pending_invites(*, organization: Organization, now: datetime | None = None) -> int:
    now = now or timezone.now()
    return Invitation.objects.pending(now=now).filter(organization=organization).count()


def seats_used(*, organization: Organization, now: datetime | None = None) -> int:
    return seats_members(organization=organization) + seats_pending_invites(
        organization=organization, now=now
    )


def seats_purchased(*, organization: Organization) -> int:
    if organization.seats_purchased is None:
        return settings.SEATWISE_TRIAL_SEATS
    return organization.seats_purchased


def seats_at_renewal(*, organization: Organization) -> int:
    if organization.seats_at_renewal is None:
        return seats_purchased(organization=organization)
    return organization.seats_at_renewal


def seats_trial_expired(*, organization: Organization, now: datetime | None = None) -> bool:
    """On trial (no paid seats) and past the trial's end: no new seats may be taken."""
    now = now or timezone.now()
    return (
        organization.seats_purchased is None
        and organization.trial_ends_at is not None
        and organization.trial_ends_at <= now
    )


def _seat_counts(*, organization: Organization, now: datetime) -> tuple[int, int]:
    """Members and pending invitations in one round trip. The membership chokepoint
    asks on every join, under the organization lock, so it is one statement, not two
    ORM counts (``tests/seats`` checks it against ``seats_members`` and
    ``seats_pending_invites``)."""
    sql = (
        f"SELECT (SELECT COUNT(*) FROM {Membership._meta.db_table} WHERE organization_id = %s), "
        f"(SELECT COUNT(*) FROM {Invitation._meta.db_table} "
        "WHERE organization_id = %s AND status = %s AND expires_at > %s)"
    )
    params = [
        organization.pk,
        organization.pk,
        InvitationStatus.PENDING,
        connection.ops.adapt_datetimefield_value(now),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        members, pending = cursor.fetchone()
    return members, pending


def seat_summary(*, organization: Organization, now: datetime | None = None) -> SeatSummary:
    members, pending = _seat_counts(organization=organization, now=now or timezone.now())
    purchased = seats_purchased(organization=organization)
    at_renewal = seats_at_renewal(organization=organization)
    cap = min(purchased, at_renewal)
    used = members + pending
    return SeatSummary(
        used=used,
        members=members,
        pending_invites=pending,
        purchased=purchased,
        at_renewal=at_renewal,
        cap=cap,
        free=max(cap - used, 0),
    )


# --- Monthly usage reports -----------------------------------------------------------


@dataclass(frozen=True)
class UsageMonth:
    """One billing month [start, end). ``peak`` is None when the ledger had not started
    by the end of the month, so the usage is unknown rather than zero."""

    start: datetime
    end: datetime
    peak: int | None
    in_progress: bool


def month_start(*, anchor: datetime, index: int) -> datetime:
    """The start of month ``index`` after ``anchor``, clamped to the month's last day.

    Computed from the anchor every time, so 31 Jan gives 28/29 Feb and then 31 Mar;
    stepping from the previous month would drift to 28 Mar.
    """
    anchor = anchor.astimezone(UTC)
    months = anchor.month - 1 + index
    year, month = anchor.year + months // 12, months % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def usage_months(*, anchor: datetime, now: datetime) -> list[tuple[datetime, datetime]]:
    """Month boundaries from the anchor up to and including the month holding ``now``."""
    bounds = []
    index = 0
    while (start := month_start(anchor=anchor, index=index)) <= now:
        bounds.append((start, month_start(anchor=anchor, index=index + 1)))
        index += 1
    return bounds


def _last_count_before(*, organization_ref, moment: datetime) -> Subquery:
    return Subquery(
        SeatUsageEvent.objects.filter(organization=organization_ref, created_at__lt=moment)
        .order_by("-created_at", "-id")
        .values("count")[:1],
        output_field=IntegerField(),
    )


def _monthly_peaks(
    *, organization_id: int, bounds: list[tuple[datetime, datetime]]
) -> list[tuple[int | None, int | None]]:
    """For each month, in one query: the count carried in (the last ledger row before
    its start) and the highest count inside it.

    The months are a VALUES list and each figure a correlated subquery, so the database
    plans two index lookups once and runs them per month. SQL text, not the ORM: a
    ``Subquery`` annotation per month cost ~20 ms of Python to build and compile for a
    3-year report, and one scalar subquery per month (37 of them) ~2 ms to plan,
    against a query of ~1 ms (bench measure 2, ``python -m bench --only usage``).
    PostgreSQL and SQLite.
    """
    ops = connection.ops
    table = ops.quote_name(SeatUsageEvent._meta.db_table)
    count, org, at, pk = map(ops.quote_name, ("count", "organization_id", "created_at", "id"))
    values = ", ".join(["(%s, %s, %s)"] * len(bounds))
    sql = (
        f"WITH months (i, start, stop) AS (VALUES {values}) "
        f"SELECT (SELECT {count} FROM {table} WHERE {org} = %s AND {at} < months.start "
        f"ORDER BY {at} DESC, {pk} DESC LIMIT 1), "
        f"(SELECT MAX({count}) FROM {table} WHERE {org} = %s AND {at} >= months.start "
        f"AND {at} < months.stop) "
        "FROM months ORDER BY months.i"
    )
    adapt = ops.adapt_datetimefield_value
    params: list = []
    for i, (start, stop) in enumerate(bounds):
        params += [i, adapt(start), adapt(stop)]
    params += [organization_id, organization_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def usage_report(
    *,
    organization: Organization,
    anchor: datetime | None = None,
    now: datetime | None = None,
) -> list[UsageMonth]:
    """Peak seat count per billing month, oldest first, the last one in progress.

    Peak = max(count carried in from before the month, every count inside it). An event
    exactly at a month's start belongs to that month. One query whatever the history
    length.
    """
    now = now or timezone.now()
    anchor = anchor or organization.billing_anchor or organization.created_at
    bounds = usage_months(anchor=anchor, now=now)
    if not bounds:
        return []

    peaks = _monthly_peaks(organization_id=organization.pk, bounds=bounds)
    months = []
    for (start, end), (carried, inside) in zip(bounds, peaks, strict=True):
        # Nothing carried in and nothing inside means the ledger had not started by the
        # month's end: unknown, not zero.
        candidates = [c for c in (carried, inside) if c is not None]
        peak = max(candidates) if candidates else None
        months.append(UsageMonth(start=start, end=end, peak=peak, in_progress=start <= now < end))
    return months


@dataclass(frozen=True)
class FleetUsage:
    organization_id: int
    organization_name: str
    peak: int | None


def usage_report_fleet(*, start: datetime, end: datetime) -> list[FleetUsage]:
    """Peak seat count of every active organization over one window [start, end).

    Two queries for any number of organizations: maxima inside the window grouped by
    organization, and the organizations annotated with their carried-in count. The
    window is the same for all (a calendar month for staff and the benchmark); each
    org's own anchored months come from ``usage_report``.
    """
    inside = dict(
        SeatUsageEvent.objects.filter(created_at__gte=start, created_at__lt=end)
        .values("organization")
        .annotate(peak=Max("count"))
        .order_by()
        .values_list("organization", "peak")
    )
    orgs = (
        Organization.objects.active()
        .annotate(carry=_last_count_before(organization_ref=OuterRef("pk"), moment=start))
        .order_by("id")
        .values_list("id", "name", "carry")
    )
    rows = []
    for org_id, name, carried in orgs:
        candidates = [c for c in (carried, inside.get(org_id)) if c is not None]
        rows.append(
            FleetUsage(
                organization_id=org_id,
                organization_name=name,
                peak=max(candidates) if candidates else None,
            )
        )
    return rows


def ledger_first_event_at(*, organization: Organization) -> datetime | None:
    return SeatUsageEvent.objects.filter(organization=organization).aggregate(
        first=Min("created_at")
    )["first"]


# --- Exports: completed months only, because an in-progress peak can still rise. ----


def _completed(months: list[UsageMonth]) -> list[UsageMonth]:
    return [m for m in months if not m.in_progress]


def usage_report_json(*, months: list[UsageMonth]) -> str:
    return json.dumps(
        [
            {"start": m.start.isoformat(), "end": m.end.isoformat(), "peak": m.peak}
            for m in _completed(months)
        ]
    )


def usage_report_csv(*, months: list[UsageMonth]) -> str:
    """Unknown peaks are written as an empty cell, never as 0."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["start", "end", "peak"])
    for m in _completed(months):
        writer.writerow([m.start.isoformat(), m.end.isoformat(), "" if m.peak is None else m.peak])
    return out.getvalue()
