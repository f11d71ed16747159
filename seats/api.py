"""JSON API for seat usage: the monthly report, as the usage page shows it.

Months are anchored to the subscription (or the organization's creation) and the
current one is marked ``in_progress``, because its peak can still rise. ``peak`` is
null for months before the ledger started: unknown, not zero.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from organizations.api import OrgAPIView, error_responses
from seats.selectors import usage_report


class UsageMonthSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="Exclusive.")
    peak = serializers.IntegerField(
        allow_null=True, help_text="Highest seat count in the month; null when unknown."
    )
    in_progress = serializers.BooleanField()


class UsageReportSerializer(serializers.Serializer):
    organization = serializers.CharField(help_text="The organization's slug.")
    months = UsageMonthSerializer(many=True, help_text="Oldest first.")


class UsageReportView(OrgAPIView):
    billing_only = True

    @extend_schema(
        operation_id="usage_report",
        summary="Monthly seat-usage report",
        description="Peak seats per billing month. Owners and billing managers only.",
        responses={200: UsageReportSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        months = usage_report(organization=self.organization)
        body = {"organization": self.organization.slug, "months": months}
        return Response(UsageReportSerializer(body).data)
