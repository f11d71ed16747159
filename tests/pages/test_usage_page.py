"""The usage report page (SCENARIOS.md 1-7 on screen): monthly peaks anchored to the
subscription, the in-progress month marked, a server-drawn SVG chart, exports of
completed months only."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from organizations.models import Membership
from organizations.services import membership_add_direct, membership_remove, organization_create
from seats.selectors import usage_report
from seats.views import usage_chart
from tests.factories import UserFactory


@pytest.fixture
def history(owner):
    """An org created three billing months ago that grew to 4 in its first month and
    shrank to 2 in its second."""
    start = (timezone.now() - timedelta(days=95)).replace(microsecond=0)
    org = organization_create(name="History", creator=owner, now=start)
    people = [UserFactory() for _ in range(3)]
    for i, person in enumerate(people):
        membership_add_direct(
            organization=org, user=person, actor=owner, now=start + timedelta(days=1 + i)
        )
    for person in people[:2]:
        membership_remove(
            membership=Membership.objects.get(organization=org, user=person),
            actor=owner,
            now=start + timedelta(days=40),
        )
    return org


def test_usage_page_shows_the_peaks_the_chart_and_the_in_progress_month(owner_client, history):
    page = owner_client.get(reverse("usage", args=[history.slug])).content.decode()
    months = usage_report(organization=history)
    assert [m.peak for m in months][:3] == [4, 4, 2]
    assert months[-1].in_progress
    assert 'data-testid="usage-chart"' in page
    assert page.count("<rect ") == len(months)
    assert page.count("in progress") >= 2  # legend/tag in table and chart title
    assert 'class="in-progress"' in page


def test_csv_export_lists_completed_months_only(owner_client, history):
    response = owner_client.get(reverse("usage-csv", args=[history.slug]))
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="history-seat-usage.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    completed = [m for m in usage_report(organization=history) if not m.in_progress]
    assert len(rows) == len(completed) >= 3
    assert [r["peak"] for r in rows[:3]] == ["4", "4", "2"]


def test_json_export_matches_the_csv(owner_client, history):
    data = json.loads(owner_client.get(reverse("usage-json", args=[history.slug])).content)
    assert [row["peak"] for row in data[:3]] == [4, 4, 2]


def test_fresh_org_has_only_an_in_progress_month_and_no_export_links(owner_client, org):
    page = owner_client.get(reverse("usage", args=[org.slug])).content.decode()
    assert reverse("usage-csv", args=[org.slug]) not in page
    assert "still in progress" in page
    body = owner_client.get(reverse("usage-csv", args=[org.slug])).content.decode()
    assert body == "start,end,peak\n"


def test_chart_scales_to_the_highest_peak_and_draws_no_bar_for_unknown_months():
    from seats.selectors import UsageMonth

    t = datetime(2026, 1, 1, tzinfo=UTC)
    months = [
        UsageMonth(start=t, end=t, peak=None, in_progress=False),
        UsageMonth(start=t, end=t, peak=5, in_progress=False),
        UsageMonth(start=t, end=t, peak=10, in_progress=True),
    ]
    chart = usage_chart(months=months)
    unknown, half, full = chart["bars"]
    assert unknown.height == 0
    assert full.height == 2 * half.height
    assert full.y + full.height == chart["baseline"]
    assert unknown.value_y == chart["baseline"] - 5 and full.value_y == full.y - 5


def test_chart_labels_are_utc_dates_and_a_months_end_is_the_next_ones_start():
    from seats.selectors import UsageMonth

    jan, feb, mar = (datetime(2026, m, d, tzinfo=UTC) for m, d in ((1, 31), (2, 28), (3, 31)))
    # Midnight UTC on 28 Feb is still 27 Feb in New York; the page's months are in UTC.
    feb_in_new_york = feb.astimezone(ZoneInfo("America/New_York"))
    months = [
        UsageMonth(start=jan, end=feb_in_new_york, peak=3, in_progress=False),
        UsageMonth(start=feb, end=mar, peak=None, in_progress=True),
    ]
    first, second = usage_chart(months=months)["bars"]
    assert first.period == "31 Jan 2026 \N{EN DASH} 28 Feb 2026" and first.label == "Jan 26"
    assert second.period == "28 Feb 2026 \N{EN DASH} 31 Mar 2026" and second.label == "Feb 26"


@override_settings(USE_THOUSAND_SEPARATOR=True, NUMBER_GROUPING=1)
def test_chart_numbers_are_never_localized(owner_client, history):
    page = owner_client.get(reverse("usage", args=[history.slug])).content.decode()
    chart = usage_chart(months=usage_report(organization=history))
    assert chart["width"] >= 100
    assert f'viewBox="0 0 {chart["width"]} {chart["height"]}"' in page
