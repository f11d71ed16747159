"""The usage report page and its exports (owners and billing managers).

The numbers come from ``seats.selectors.usage_report``; this module only lays them out,
including the bar chart, which is drawn on the server as inline SVG so it needs no
JavaScript. Exports hold completed months only (the selectors decide that).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.views.decorators.http import require_GET

from organizations.views import org_nav, org_view
from seats.selectors import UsageMonth, usage_report, usage_report_csv, usage_report_json

CHART_HEIGHT = 180
CHART_BAR = 36
CHART_GAP = 14
CHART_TOP = 22  # room for the value printed above the tallest bar
CHART_BOTTOM = 34  # room for the month labels


@dataclass(frozen=True)
class Bar:
    """One month of the chart, and of the table below it (same labels)."""

    month: UsageMonth
    x: int
    y: int
    height: int
    label_x: int
    value_y: int  # the peak printed above the bar ("?" on the baseline when unknown)
    period: str  # "1 Jan 2026 - 1 Feb 2026", with an en dash
    label: str  # "Jan 26", under the bar


def usage_chart(*, months: list[UsageMonth]) -> dict:
    """Geometry and labels for the SVG: one bar per month, scaled to the highest known
    peak. Unknown months get no bar (never a zero bar, which would read as "no seats").

    Labels are formatted here, once per date (a month's end is the next one's start),
    in UTC as the page says: per bar in the template, date filters and number
    localization were most of a 3-year page's render time.
    """
    top = max((m.peak for m in months if m.peak is not None), default=0) or 1
    plot = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    days: dict[datetime, str] = {}

    def day(value: datetime) -> str:
        if value not in days:
            days[value] = date_format(value.astimezone(UTC), "j M Y")
        return days[value]

    bars = []
    for i, month in enumerate(months):
        x = CHART_GAP + i * (CHART_BAR + CHART_GAP)
        height = round(plot * (month.peak or 0) / top)
        y = CHART_TOP + plot - height
        bars.append(
            Bar(
                month=month,
                x=x,
                y=y,
                height=height,
                label_x=x + CHART_BAR // 2,
                value_y=y - 5,
                period=f"{day(month.start)} \N{EN DASH} {day(month.end)}",
                label=date_format(month.start.astimezone(UTC), "M y"),
            )
        )
    width = CHART_GAP + len(months) * (CHART_BAR + CHART_GAP)
    return {
        "bars": bars,
        "width": max(width, 200),
        "height": CHART_HEIGHT,
        "baseline": CHART_TOP + plot,
        "label_y": CHART_HEIGHT - CHART_BOTTOM + 18,
    }


@org_view(billing=True)
@require_GET
def usage(request, organization, membership):
    months = usage_report(organization=organization, now=timezone.now())
    chart = usage_chart(months=months)
    return render(
        request,
        "seats/usage.html",
        {
            **org_nav(organization=organization, membership=membership, tab="usage"),
            "chart": chart,
            "rows": chart["bars"][::-1],  # the table: the chart's months, newest first
            "has_completed": any(not m.in_progress for m in months),
        },
    )


def _export(*, organization, body: str, content_type: str, extension: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="{organization.slug}-seat-usage.{extension}"'
    )
    return response


@org_view(billing=True)
@require_GET
def usage_csv(request, organization, membership):
    months = usage_report(organization=organization, now=timezone.now())
    return _export(
        organization=organization,
        body=usage_report_csv(months=months),
        content_type="text/csv; charset=utf-8",
        extension="csv",
    )


@org_view(billing=True)
@require_GET
def usage_json(request, organization, membership):
    months = usage_report(organization=organization, now=timezone.now())
    return _export(
        organization=organization,
        body=usage_report_json(months=months),
        content_type="application/json",
        extension="json",
    )
