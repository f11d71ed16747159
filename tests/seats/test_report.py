"""Monthly usage reports: SCENARIOS 1-7, the fleet-wide variant and the exports."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from organizations.models import Membership
from organizations.services import membership_add_staff, membership_remove, organization_create
from seats.selectors import (
    month_start,
    usage_months,
    usage_report,
    usage_report_csv,
    usage_report_fleet,
    usage_report_json,
)
from seats.services import seat_baseline_backfill
from tests.factories import OrganizationFactory, UserFactory


def at(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def history(owner, staff):
    """Builds ledger history with backdated ``now=`` through the real services."""

    class History:
        def org(self, *, created):
            org = organization_create(name="Anchored", creator=owner, now=created)
            # A paid org with room: the trial cap and trial end would stop the history.
            org.seats_purchased = 100
            org.billing_anchor = created
            org.save(update_fields=["seats_purchased", "billing_anchor"])
            return org

        def grow(self, org, *, to, when):
            while Membership.objects.filter(organization=org).count() < to:
                membership_add_staff(organization=org, user=UserFactory(), actor=staff, now=when)

        def shrink(self, org, *, to, when):
            members = Membership.objects.filter(organization=org).exclude(user=owner)
            for membership in members.order_by("-pk")[: members.count() + 1 - to]:
                membership_remove(membership=membership, actor=staff, now=when)

    return History()


def peaks(months):
    return [(m.start.date().isoformat(), m.peak, m.in_progress) for m in months]


def test_peak_within_a_month_is_the_highest_count(history):
    """SCENARIOS 1: 10 -> 15 -> 9 within one month peaks at 15."""
    org = history.org(created=at(2025, 3, 15))
    history.grow(org, to=10, when=at(2025, 3, 16))
    history.grow(org, to=15, when=at(2025, 3, 20))
    history.shrink(org, to=9, when=at(2025, 4, 1))
    report = usage_report(organization=org, now=at(2025, 4, 20))
    assert peaks(report) == [("2025-03-15", 15, False), ("2025-04-15", 9, True)]


def test_month_without_changes_peaks_at_the_carried_in_count(history):
    """SCENARIOS 2: carry-in, including a month whose first change is a removal."""
    org = history.org(created=at(2025, 3, 15))
    history.grow(org, to=8, when=at(2025, 3, 16))
    history.shrink(org, to=5, when=at(2025, 5, 20))  # month 3 starts with removals
    report = usage_report(organization=org, now=at(2025, 6, 1))
    assert peaks(report) == [
        ("2025-03-15", 8, False),
        ("2025-04-15", 8, False),  # no change at all
        ("2025-05-15", 8, True),  # first change is a removal
    ]


def test_months_are_anchored_to_the_subscription_start(history):
    """SCENARIOS 3: 15 Mar-15 Apr, 15 Apr-15 May, UTC, not calendar months."""
    org = history.org(created=at(2025, 3, 15, 9, 30))
    report = usage_report(organization=org, now=at(2025, 5, 20))
    assert [(m.start, m.end) for m in report] == [
        (at(2025, 3, 15, 9, 30), at(2025, 4, 15, 9, 30)),
        (at(2025, 4, 15, 9, 30), at(2025, 5, 15, 9, 30)),
        (at(2025, 5, 15, 9, 30), at(2025, 6, 15, 9, 30)),
    ]


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        (at(2025, 1, 31), ["2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30", "2025-05-31"]),
        (at(2024, 1, 31), ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"]),
        (at(2025, 1, 30), ["2025-01-30", "2025-02-28", "2025-03-30", "2025-04-30", "2025-05-30"]),
        (at(2024, 11, 30), ["2024-11-30", "2024-12-30", "2025-01-30", "2025-02-28", "2025-03-30"]),
    ],
)
def test_month_starts_clamp_to_short_months_from_the_anchor(anchor, expected):
    """SCENARIOS 4: computed from the anchor each time, so 31 Mar follows 28 Feb."""
    starts = [month_start(anchor=anchor, index=i).date().isoformat() for i in range(5)]
    assert starts == expected


def test_report_months_use_clamped_boundaries(history):
    org = history.org(created=at(2025, 1, 31, 12))
    report = usage_report(organization=org, now=at(2025, 4, 1))
    assert [(m.start.date().isoformat(), m.end.date().isoformat()) for m in report] == [
        ("2025-01-31", "2025-02-28"),
        ("2025-02-28", "2025-03-31"),
        ("2025-03-31", "2025-04-30"),
    ]


def test_event_exactly_at_month_start_belongs_to_that_month(history):
    """SCENARIOS 5."""
    org = history.org(created=at(2025, 3, 15))
    history.grow(org, to=10, when=at(2025, 3, 16))
    history.grow(org, to=11, when=at(2025, 4, 15))  # exactly the second month's start
    report = usage_report(organization=org, now=at(2025, 5, 20))
    assert peaks(report) == [
        ("2025-03-15", 10, False),
        ("2025-04-15", 11, False),
        ("2025-05-15", 11, True),
    ]


def test_current_month_is_in_progress_and_exports_leave_it_out(history):
    """SCENARIOS 6."""
    org = history.org(created=at(2025, 3, 15))
    history.grow(org, to=3, when=at(2025, 3, 16))
    history.grow(org, to=4, when=at(2025, 4, 20))
    report = usage_report(organization=org, now=at(2025, 4, 21))
    assert [m.in_progress for m in report] == [False, True]

    assert json.loads(usage_report_json(months=report)) == [
        {"start": "2025-03-15T00:00:00+00:00", "end": "2025-04-15T00:00:00+00:00", "peak": 3}
    ]
    rows = list(csv.reader(io.StringIO(usage_report_csv(months=report))))
    assert rows == [
        ["start", "end", "peak"],
        ["2025-03-15T00:00:00+00:00", "2025-04-15T00:00:00+00:00", "3"],
    ]


def test_months_before_the_ledger_are_unknown_not_zero(db):
    """SCENARIOS 7: an org older than the ledger; the baseline row starts it."""
    legacy = OrganizationFactory(created_at=at(2025, 1, 10), billing_anchor=at(2025, 1, 10))
    for _ in range(4):
        Membership.objects.create(
            organization=legacy,
            user=UserFactory(),
            role="member",
            joined_via="staff",
            created_at=at(2025, 1, 10),
        )
    seat_baseline_backfill(now=at(2025, 3, 1))
    report = usage_report(organization=legacy, now=at(2025, 4, 20))
    assert peaks(report) == [
        ("2025-01-10", None, False),
        ("2025-02-10", 4, False),  # the baseline lands inside this month
        ("2025-03-10", 4, False),
        ("2025-04-10", 4, True),
    ]
    rows = list(csv.reader(io.StringIO(usage_report_csv(months=report))))
    assert rows[1][2] == ""  # unknown, never 0
    assert json.loads(usage_report_json(months=report))[0]["peak"] is None


def test_org_with_no_ledger_at_all_is_unknown_throughout(db):
    legacy = OrganizationFactory(created_at=at(2025, 1, 10))
    report = usage_report(organization=legacy, now=at(2025, 3, 1))
    assert [m.peak for m in report] == [None, None]


def test_explicit_anchor_overrides_the_orgs(history):
    org = history.org(created=at(2025, 3, 15))
    report = usage_report(organization=org, anchor=at(2025, 2, 1), now=at(2025, 4, 2))
    # The ledger starts on 15 March: February is unknown, March is known from then on.
    assert peaks(report) == [
        ("2025-02-01", None, False),
        ("2025-03-01", 1, False),
        ("2025-04-01", 1, True),
    ]


def test_report_runs_one_query_however_long_the_history(history, django_assert_num_queries):
    org = history.org(created=at(2023, 1, 1))
    for month in range(1, 13):
        history.grow(org, to=month + 1, when=at(2023, month, 5))
    with django_assert_num_queries(1):
        short = usage_report(organization=org, now=at(2023, 1, 20))
    with django_assert_num_queries(1):
        long = usage_report(organization=org, now=at(2025, 6, 1))
    assert len(short) == 1 and len(long) == 30
    assert long[11].peak == 13 and long[-1].peak == 13


def test_fleet_report_covers_every_org_in_two_queries(history, django_assert_num_queries):
    window = (at(2025, 4, 1), at(2025, 5, 1))
    a = history.org(created=at(2025, 3, 1))
    history.grow(a, to=6, when=at(2025, 4, 10))
    history.shrink(a, to=2, when=at(2025, 4, 20))
    b = history.org(created=at(2025, 1, 1))
    history.grow(b, to=3, when=at(2025, 2, 1))
    later = history.org(created=at(2025, 6, 1))
    empty = OrganizationFactory()

    with django_assert_num_queries(2):
        rows = usage_report_fleet(start=window[0], end=window[1])

    by_id = {row.organization_id: row.peak for row in rows}
    assert by_id[a.pk] == 6
    assert by_id[b.pk] == 3  # carried in, no change inside
    assert by_id[later.pk] is None  # ledger starts after the window
    assert by_id[empty.pk] is None


def test_usage_months_is_empty_before_the_anchor():
    assert usage_months(anchor=at(2025, 3, 1), now=at(2025, 2, 1)) == []


def test_months_start_when_the_anchor_time_passes(history):
    org = history.org(created=at(2025, 3, 15, 12))
    report = usage_report(organization=org, now=at(2025, 4, 15, 11, 59) + timedelta(seconds=59))
    assert len(report) == 1 and report[0].in_progress
