"""What every billing service shares: the refusal type, the actor check, input
validation, and the organization lock."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError

from billing import catalog
from billing.catalog import Plan, UnknownPlan
from billing.models import PendingChange
from organizations.exceptions import NotAllowed
from organizations.models import Membership, Organization, Role

logger = logging.getLogger(__name__)

MAX_SEATS = 10_000
ACTIVE_STATUSES = {"active", "trialing", "past_due", "incomplete", "unpaid"}


class BillingRefused(ValidationError):
    """A billing request we will not carry out; the message tells the user why and what
    to do instead."""

    def __init__(self, message: str, code: str = "billing_refused"):
        super().__init__(message, code=code)


# --- Shared checks ---------------------------------------------------------------------


def billing_authorize(*, organization: Organization, actor) -> None:
    """Owners and billing managers manage billing; staff act through the admin."""
    if getattr(actor, "is_staff", False):
        return
    allowed = Membership.objects.filter(
        organization=organization,
        user=actor,
        role__in=[Role.OWNER, Role.BILLING_MANAGER],
    ).exists()
    if not allowed:
        raise NotAllowed("Only owners and billing managers can manage billing.")


def seats_validate(*, seats) -> int:
    """A seat count from any caller: a whole number from 1 to MAX_SEATS."""
    if isinstance(seats, bool):
        raise BillingRefused("Enter the number of seats as a whole number.", code="seats_invalid")
    if isinstance(seats, str):
        seats = seats.strip()
        # isdigit() alone lets a superscript two through (int() then raises ValueError)
        # and turns other scripts' digits into numbers; only ASCII digits are a seat
        # count (found by tests/reliability/test_bad_input.py).
        if not (seats.isascii() and seats.isdigit()):
            raise BillingRefused(
                "Enter the number of seats as a whole number.", code="seats_invalid"
            )
        seats = int(seats)
    if not isinstance(seats, int):
        raise BillingRefused("Enter the number of seats as a whole number.", code="seats_invalid")
    if seats < 1:
        raise BillingRefused("A subscription needs at least 1 seat.", code="seats_invalid")
    if seats > MAX_SEATS:
        raise BillingRefused(
            f"{seats:,} seats is more than we can sell online; the most is {MAX_SEATS:,}. "
            "Contact us for a larger plan.",
            code="seats_invalid",
        )
    return seats


def plan_resolve(*, tier: str, cycle: str) -> Plan:
    try:
        return catalog.plan_get(tier=tier, cycle=cycle)
    except UnknownPlan:
        tiers = ", ".join(catalog.tier_names().values())
        raise BillingRefused(
            f"Unknown plan {tier!r} / {cycle!r}. Choose {tiers}, billed monthly or annually.",
            code="plan_unknown",
        ) from None


def _tier_limit_check(*, plan: Plan, seats: int) -> None:
    if plan.max_seats is not None and seats > plan.max_seats:
        raise BillingRefused(
            f"{plan.tier_name} allows up to {plan.max_seats} seats. Choose fewer seats or a "
            "larger plan.",
            code="tier_limit",
        )


def _lock(organization: Organization) -> Organization:
    return Organization.objects.select_for_update().get(pk=organization.pk)


def _seats_word(n: int) -> str:
    return f"{n} seat" if n == 1 else f"{n} seats"


def _pending_change(organization: Organization) -> PendingChange | None:
    return PendingChange.objects.filter(
        organization=organization, status=PendingChange.Status.PENDING
    ).first()


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _obj_id(value) -> str | None:
    return value.get("id") if isinstance(value, dict) else value
