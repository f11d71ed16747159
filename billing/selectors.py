"""Billing reads. ``subscription_summary`` is the one answer to "what is this org on,
what does it use and what will it pay": pages, the API and the admin all show it and
none of them recompute it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from djstripe.models import Invoice as StripeInvoice
from djstripe.models import Subscription as StripeSubscription

from billing import catalog
from billing.catalog import Plan
from billing.models import PendingChange
from billing.stripe_data import invoice_subscription_id, subscription_seat_item, to_datetime
from organizations.models import Organization
from seats.selectors import SeatSummary, seat_summary, seats_purchased


class Status:
    TRIALING = "trialing"
    TRIAL_EXPIRED = "trial_expired"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    INCOMPLETE = "incomplete"
    CANCEL_SCHEDULED = "cancel_scheduled"
    ENDED = "ended"

    LABELS = {
        TRIALING: "Trial",
        TRIAL_EXPIRED: "Trial ended",
        ACTIVE: "Active",
        PAST_DUE: "Past due",
        INCOMPLETE: "Awaiting payment",
        CANCEL_SCHEDULED: "Ends at period end",
        ENDED: "Ended",
    }


@dataclass(frozen=True)
class SubscriptionSummary:
    status: str
    tier: str | None
    tier_name: str | None
    cycle: str | None
    seats: SeatSummary
    plan: Plan | None
    period_start: datetime | None
    period_end: datetime | None
    trial_ends_at: datetime | None
    trial_days_left: int | None
    pending_change: PendingChange | None
    next_plan: Plan | None
    next_invoice_amount: int | None  # cents at the next renewal; None when nothing renews

    @property
    def status_label(self) -> str:
        return Status.LABELS[self.status]

    @property
    def purchased(self) -> int:
        return self.seats.purchased

    @property
    def used(self) -> int:
        return self.seats.used

    @property
    def at_renewal(self) -> int:
        return self.seats.at_renewal

    @property
    def is_subscribed(self) -> bool:
        return self.status in (
            Status.ACTIVE,
            Status.PAST_DUE,
            Status.CANCEL_SCHEDULED,
            Status.INCOMPLETE,
        )

    @property
    def can_change_plan(self) -> bool:
        return self.status in (Status.ACTIVE, Status.PAST_DUE)

    @property
    def limits(self) -> dict:
        plan = self.plan
        return {
            "max_seats": plan.max_seats if plan else None,
            "seats": self.seats.cap,
            "features": list(plan.features) if plan else [],
        }


def subscription_status(*, organization: Organization, now: datetime | None = None) -> str:
    now = now or timezone.now()
    stripe_status = organization.subscription_status
    if not stripe_status:
        if organization.trial_ends_at and organization.trial_ends_at <= now:
            return Status.TRIAL_EXPIRED
        return Status.TRIALING
    if stripe_status == "canceled":
        return Status.ENDED
    if stripe_status in ("past_due", "unpaid"):
        return Status.PAST_DUE
    if stripe_status in ("incomplete", "incomplete_expired"):
        return Status.INCOMPLETE
    if organization.cancel_at_period_end:
        return Status.CANCEL_SCHEDULED
    if stripe_status == "trialing":
        return Status.TRIALING
    return Status.ACTIVE


def pending_change_get(*, organization: Organization) -> PendingChange | None:
    return PendingChange.objects.filter(
        organization=organization, status=PendingChange.Status.PENDING
    ).first()


def subscription_summary(
    *, organization: Organization, now: datetime | None = None
) -> SubscriptionSummary:
    now = now or timezone.now()
    status = subscription_status(organization=organization, now=now)
    seats = seat_summary(organization=organization, now=now)
    plan = None
    if organization.plan_tier and organization.billing_cycle:
        plan = catalog.plan_get(tier=organization.plan_tier, cycle=organization.billing_cycle)
    change = pending_change_get(organization=organization)
    next_plan = plan
    if change is not None:
        next_plan = catalog.plan_get(tier=change.target_tier, cycle=change.target_cycle)
    renews = status in (Status.ACTIVE, Status.PAST_DUE)
    return SubscriptionSummary(
        status=status,
        tier=plan.tier if plan else None,
        tier_name=plan.tier_name if plan else None,
        cycle=plan.cycle if plan else None,
        seats=seats,
        plan=plan,
        period_start=organization.current_period_start,
        period_end=organization.current_period_end,
        trial_ends_at=organization.trial_ends_at,
        trial_days_left=_trial_days_left(organization, status=status, now=now),
        pending_change=change,
        next_plan=next_plan,
        next_invoice_amount=next_plan.amount_for(seats.at_renewal)
        if renews and next_plan
        else None,
    )


def _trial_days_left(organization: Organization, *, status: str, now: datetime) -> int | None:
    if status == Status.TRIALING and organization.trial_ends_at:
        return max(0, (organization.trial_ends_at - now).days)
    return None


@dataclass(frozen=True)
class TrialState:
    status: str
    trial_ends_at: datetime | None
    trial_days_left: int | None
    purchased: int


def trial_state(*, organization: Organization, now: datetime | None = None) -> TrialState | None:
    """What the trial banner on every org page says, from the organization row alone (no
    query); None once the organization pays, or after its subscription."""
    now = now or timezone.now()
    status = subscription_status(organization=organization, now=now)
    if status not in (Status.TRIALING, Status.TRIAL_EXPIRED):
        return None
    return TrialState(
        status=status,
        trial_ends_at=organization.trial_ends_at,
        trial_days_left=_trial_days_left(organization, status=status, now=now),
        purchased=seats_purchased(organization=organization),
    )


@dataclass(frozen=True)
class CheckoutDefaults:
    tier: str
    cycle: str
    seats: int


def checkout_defaults(
    *, organization: Organization, now: datetime | None = None, used: int | None = None
) -> CheckoutDefaults:
    """What a (re)subscribe form starts with: the previous tier and cycle, and seats =
    max(previously paid, currently used). ``used`` is the seats in use when the caller
    has already counted them (the subscription page's summary has)."""
    if used is None:
        used = seat_summary(organization=organization, now=now).used
    previous = 0
    if organization.stripe_subscription_id:
        stored = StripeSubscription.objects.filter(id=organization.stripe_subscription_id).first()
        item = subscription_seat_item(stored.stripe_data) if stored else None
        previous = item.quantity if item else 0
    return CheckoutDefaults(
        tier=organization.plan_tier or catalog.Tier.TEAMS,
        cycle=organization.billing_cycle or catalog.Cycle.MONTHLY,
        seats=max(previous, used, 1),
    )


def pending_changes_due(*, now: datetime) -> list[int]:
    """Pending changes whose renewal is within the lead time and not yet in Stripe."""
    return list(
        PendingChange.objects.filter(
            status=PendingChange.Status.PENDING,
            scheduled_at__isnull=True,
            effective_at__lte=now + settings.SEATWISE_RENEWAL_LEAD,
        )
        .order_by("effective_at", "pk")
        .values_list("pk", flat=True)
    )


def pending_changes_to_confirm(*, now: datetime) -> list[int]:
    """Scheduled changes whose renewal time has passed: check that Stripe billed them."""
    return list(
        PendingChange.objects.filter(
            status=PendingChange.Status.PENDING,
            scheduled_at__isnull=False,
            effective_at__lte=now,
        )
        .order_by("effective_at", "pk")
        .values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class InvoiceRow:
    id: str
    number: str
    created: datetime | None
    amount_due: int
    amount_paid: int
    status: str
    url: str
    subscription_id: str | None


def invoices_for_organization(*, organization: Organization, limit: int = 24) -> list[InvoiceRow]:
    if not organization.stripe_subscription_id:
        return []  # invoices come from a subscription; an org on trial has none
    invoices = StripeInvoice.objects.filter(customer__subscriber=organization).order_by(
        F("created").desc(nulls_last=True)
    )[:limit]
    rows = []
    for invoice in invoices:
        data = invoice.stripe_data or {}
        rows.append(
            InvoiceRow(
                id=invoice.id,
                number=data.get("number") or invoice.id,
                created=to_datetime(data.get("created")),
                amount_due=int(data.get("amount_due") or 0),
                amount_paid=int(data.get("amount_paid") or 0),
                status=data.get("status") or "",
                url=data.get("hosted_invoice_url") or "",
                subscription_id=invoice_subscription_id(data),
            )
        )
    return rows


@dataclass(frozen=True)
class CycleComparison:
    """The Now / After renewal figures shown before a billing-cycle switch."""

    seats: int
    now_plan: Plan
    now_amount: int  # cents per current interval
    after_plan: Plan
    after_amount: int  # cents per new interval, from the renewal on
    after_monthly_equivalent: int
    switches_at: datetime | None


def cycle_change_comparison(*, organization: Organization, cycle: str) -> CycleComparison:
    if not organization.plan_tier:
        raise ValueError("No subscription to compare against.")
    now_plan = catalog.plan_get(tier=organization.plan_tier, cycle=organization.billing_cycle)
    change = pending_change_get(organization=organization)
    tier = change.target_tier if change else organization.plan_tier
    seats = change.target_quantity if change else (organization.seats_purchased or 0)
    after_plan = catalog.plan_get(tier=tier, cycle=cycle)
    return CycleComparison(
        seats=seats,
        now_plan=now_plan,
        now_amount=now_plan.amount_for(organization.seats_purchased or 0),
        after_plan=after_plan,
        after_amount=after_plan.amount_for(seats),
        after_monthly_equivalent=after_plan.monthly_equivalent(seats),
        switches_at=organization.current_period_end,
    )
