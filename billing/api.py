"""JSON API for billing: the full summary for billing roles, entitlements for everyone.

The split: ``/billing/`` is what the subscription page shows (seats, period, next
invoice, pending change) and, like every billing page, is for owners and billing
managers only. ``/entitlements/`` is the part a client app needs to enforce limits
(status, tier, seat cap, features), what it would put in a token claim; any member
may read it, because the app acts for members too. Both come from
``subscription_summary``; nothing here recomputes a rule.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from billing.selectors import Status, SubscriptionSummary, subscription_summary
from organizations.api import OrgAPIView, error_responses

STATUS_CHOICES = list(Status.LABELS.items())


class LimitsSerializer(serializers.Serializer):
    max_seats = serializers.IntegerField(
        allow_null=True, help_text="The tier's seat ceiling; null when unlimited or no plan."
    )
    seats = serializers.IntegerField(
        help_text="Seats that may be in use now (the lower of purchased and at renewal)."
    )
    features = serializers.ListField(child=serializers.CharField())


class EntitlementsSerializer(serializers.Serializer):
    organization = serializers.CharField(help_text="The organization's slug.")
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    tier = serializers.CharField(allow_null=True, help_text="Null while on trial or never paid.")
    trial_ends_at = serializers.DateTimeField(allow_null=True)
    limits = LimitsSerializer()


class SeatsSerializer(serializers.Serializer):
    purchased = serializers.IntegerField(help_text="Paid this period (the trial cap on trial).")
    used = serializers.IntegerField(help_text="Members plus pending invitations.")
    at_renewal = serializers.IntegerField(help_text="What the next period will bill.")
    members = serializers.IntegerField()
    pending_invitations = serializers.IntegerField(source="pending_invites")
    free = serializers.IntegerField(help_text="Seats a new invitation may take now.")


class PendingChangeSerializer(serializers.Serializer):
    description = serializers.CharField(source="describe")
    target_quantity = serializers.IntegerField()
    target_tier = serializers.CharField()
    target_cycle = serializers.CharField()
    effective_at = serializers.DateTimeField(help_text="The renewal it waits for.")


class NextInvoiceSerializer(serializers.Serializer):
    amount = serializers.IntegerField(help_text="In the currency's smallest unit (cents).")
    currency = serializers.CharField()
    date = serializers.DateTimeField(allow_null=True)


class BillingSummarySerializer(serializers.Serializer):
    organization = serializers.CharField(help_text="The organization's slug.")
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    status_label = serializers.CharField()
    tier = serializers.CharField(allow_null=True)
    tier_name = serializers.CharField(allow_null=True)
    cycle = serializers.CharField(allow_null=True)
    seats = SeatsSerializer()
    period_start = serializers.DateTimeField(allow_null=True)
    period_end = serializers.DateTimeField(allow_null=True)
    trial_ends_at = serializers.DateTimeField(allow_null=True)
    trial_days_left = serializers.IntegerField(allow_null=True)
    pending_change = PendingChangeSerializer(allow_null=True)
    next_invoice = NextInvoiceSerializer(
        allow_null=True, help_text="Null when nothing renews (trial, ending, ended)."
    )
    limits = LimitsSerializer()


def _entitlements(*, slug: str, summary: SubscriptionSummary) -> dict:
    return {
        "organization": slug,
        "status": summary.status,
        "tier": summary.tier,
        "trial_ends_at": summary.trial_ends_at,
        "limits": summary.limits,
    }


class EntitlementsView(OrgAPIView):
    @extend_schema(
        operation_id="entitlements",
        summary="What the organization may use now",
        description="Status, tier, seat cap and features, for a client app to enforce "
        "limits (for example as a token claim). Any member may read it.",
        responses={200: EntitlementsSerializer, **error_responses(401, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        summary = subscription_summary(organization=self.organization)
        body = _entitlements(slug=self.organization.slug, summary=summary)
        return Response(EntitlementsSerializer(body).data)


class BillingSummaryView(OrgAPIView):
    billing_only = True

    @extend_schema(
        operation_id="billing_summary",
        summary="Billing summary",
        description="Tier, cycle, seats purchased / used / at renewal, status, period, "
        "pending change, next invoice and limits. Owners and billing managers only.",
        responses={200: BillingSummarySerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        summary = subscription_summary(organization=self.organization)
        next_invoice = None
        if summary.next_invoice_amount is not None:
            next_invoice = {
                "amount": summary.next_invoice_amount,
                "currency": settings.SEATWISE_CURRENCY,
                "date": summary.period_end,
            }
        body = {
            "organization": self.organization.slug,
            "status": summary.status,
            "status_label": summary.status_label,
            "tier": summary.tier,
            "tier_name": summary.tier_name,
            "cycle": summary.cycle,
            "seats": summary.seats,
            "period_start": summary.period_start,
            "period_end": summary.period_end,
            "trial_ends_at": summary.trial_ends_at,
            "trial_days_left": summary.trial_days_left,
            "pending_change": summary.pending_change,
            "next_invoice": next_invoice,
            "limits": summary.limits,
        }
        return Response(BillingSummarySerializer(body).data)
