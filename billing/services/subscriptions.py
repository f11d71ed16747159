"""Customer-facing operations: checkout, seat / cycle / plan changes, cancel, the
pending change they merge into, and the sync that mirrors Stripe onto the organization."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from djstripe.models import Customer as StripeCustomer
from djstripe.models import Invoice as StripeInvoice
from djstripe.models import Subscription as StripeSubscription

from billing import catalog, gateway
from billing.catalog import Cycle, Plan
from billing.models import PendingChange
from billing.services.common import (
    ACTIVE_STATUSES,
    BillingRefused,
    _int,
    _lock,
    _obj_id,
    _pending_change,
    _seats_word,
    _tier_limit_check,
    billing_authorize,
    plan_resolve,
    seats_validate,
)
from billing.stripe_data import (
    SeatItem,
    subscription_seat_item,
    to_datetime,
    to_timestamp,
)
from organizations.models import Organization
from seats.selectors import seat_summary

logger = logging.getLogger(__name__)

# --- Customer and checkout ---------------------------------------------------------------


def billing_customer_ensure(*, organization: Organization, now: datetime | None = None):
    """The organization's Stripe customer, created once (with a test clock in test mode).

    dj-stripe's own ``Customer.create`` saves a row with no ``stripe_data``; syncing from
    the object Stripe returns avoids that gap.
    """
    customer = StripeCustomer.objects.filter(subscriber=organization, livemode=False).first()
    if customer is not None:
        return customer
    now = now or timezone.now()
    clock_id = None
    if settings.SEATWISE_STRIPE_TEST_CLOCKS and not settings.STRIPE_LIVE_MODE:
        clock = gateway.test_clock_create(
            frozen_time=to_timestamp(now),
            name=f"org {organization.pk}",
            idempotency_key=f"org-{organization.pk}-clock",
        )
        clock_id = clock["id"]
    data = gateway.customer_create(
        email=organization.email,
        name=organization.name,
        metadata={"djstripe_subscriber": str(organization.pk)},
        test_clock=clock_id,
        idempotency_key=f"org-{organization.pk}-customer",
    )
    customer = gateway.djstripe_sync(StripeCustomer, data)
    if customer.subscriber_id != organization.pk:
        customer.subscriber = organization
        customer.save(update_fields=["subscriber"])
    return customer


def checkout_start(
    *,
    organization: Organization,
    actor,
    tier: str,
    cycle: str,
    seats,
    success_url: str,
    cancel_url: str,
    now: datetime | None = None,
) -> str:
    """Open a Stripe Checkout session for a new subscription; returns its URL.

    Nothing changes here until Stripe confirms the payment (``checkout.session.completed``).
    """
    now = now or timezone.now()
    billing_authorize(organization=organization, actor=actor)
    plan = plan_resolve(tier=tier, cycle=cycle)
    seats = seats_validate(seats=seats)
    if organization.subscription_status in ACTIVE_STATUSES:
        raise BillingRefused(
            "This organization already has a subscription. Change its seats or plan on the "
            "subscription page instead.",
            code="already_subscribed",
        )
    used = seat_summary(organization=organization, now=now).used
    if seats < used:
        raise BillingRefused(
            f"{_seats_word(used)} are in use (members and pending invitations), so the plan "
            f"needs at least {used} seats.",
            code="seats_below_used",
        )
    _tier_limit_check(plan=plan, seats=seats)
    customer = billing_customer_ensure(organization=organization, now=now)
    session = gateway.checkout_session_create(
        customer_id=customer.id,
        price_id=plan.price_id,
        quantity=seats,
        success_url=success_url,
        cancel_url=cancel_url,
        client_reference_id=str(organization.pk),
        metadata={"organization_id": str(organization.pk), "seats": str(seats)},
        idempotency_key=f"org-{organization.pk}-checkout-{plan.lookup_key}-{seats}-"
        f"{to_timestamp(now) // 60}",
    )
    return session["url"]


def checkout_session_complete(*, session_id: str) -> Organization | None:
    """Link the subscription a completed Checkout created to its organization."""
    session = gateway.checkout_session_retrieve(session_id)
    organization = Organization.objects.filter(pk=_int(session.get("client_reference_id"))).first()
    subscription_id = _obj_id(session.get("subscription"))
    if organization is None or not subscription_id:
        logger.warning("checkout session %s names no known organization", session_id)
        return None
    if session.get("status") != "complete":
        return None
    with transaction.atomic():
        org = _lock(organization)
        org.stripe_subscription_id = subscription_id
        org.save(update_fields=["stripe_subscription_id"])
    return subscription_sync(organization=org)


# --- Sync from Stripe ----------------------------------------------------------------


def subscription_sync(
    *, organization: Organization, subscription: dict | None = None, now: datetime | None = None
) -> Organization:
    """Read the subscription from Stripe and write the organization's mirror fields.

    Always re-reads Stripe (or uses the object a write just returned), so a stale or
    out-of-order webhook cannot roll the mirror back.
    """
    now = now or timezone.now()
    subscription_id = organization.stripe_subscription_id
    if subscription is None:
        if not subscription_id:
            subscription_id = _latest_subscription_id(organization)
            if not subscription_id:
                return organization
        subscription = gateway.subscription_retrieve(subscription_id)
    gateway.djstripe_sync(StripeSubscription, subscription)
    item = subscription_seat_item(subscription)
    with transaction.atomic():
        org = _lock(organization)
        _mirror_write(organization=org, subscription=subscription, item=item, now=now)
    return org


def _latest_subscription_id(organization: Organization) -> str | None:
    customer = StripeCustomer.objects.filter(subscriber=organization, livemode=False).first()
    if customer is None:
        return None
    subscriptions = gateway.subscriptions_for_customer(customer.id)
    if not subscriptions:
        return None
    return max(subscriptions, key=lambda sub: sub.get("created") or 0)["id"]


def _mirror_write(
    *, organization: Organization, subscription: dict, item: SeatItem | None, now: datetime
) -> None:
    status = subscription.get("status") or ""
    organization.stripe_subscription_id = subscription["id"]
    organization.subscription_status = status
    organization.cancel_at_period_end = bool(subscription.get("cancel_at_period_end"))
    organization.billing_anchor = to_datetime(subscription.get("start_date"))
    if item is not None and item.plan is not None:
        organization.plan_tier = item.plan.tier
        organization.billing_cycle = item.plan.cycle
        organization.current_period_start = item.period_start
        organization.current_period_end = item.period_end
    if status == "canceled" or item is None:
        # Ended: no seats are paid for; members stay, nobody new can join.
        organization.seats_purchased = 0
    else:
        organization.seats_purchased = item.quantity
    if status == "trialing":
        organization.trial_ends_at = to_datetime(subscription.get("trial_end"))
    change = _pending_change(organization)
    organization.seats_at_renewal = (
        change.target_quantity
        if change is not None and change.target_quantity < (organization.seats_purchased or 0)
        else None
    )
    organization.billing_synced_at = now
    organization.save()


# --- Seat changes ----------------------------------------------------------------------


@dataclass(frozen=True)
class SeatPreview:
    seats_from: int
    seats_to: int
    amount_due: int  # cents charged now (0 for a decrease)
    effective_at: datetime | None  # None: now
    renewal_amount: int  # cents billed at the next renewal


def _subscribed_seat_item(organization: Organization) -> tuple[dict, SeatItem]:
    if not organization.stripe_subscription_id or organization.subscription_status not in (
        ACTIVE_STATUSES
    ):
        raise BillingRefused(
            "There is no active subscription. Choose a plan first.", code="not_subscribed"
        )
    subscription = gateway.subscription_retrieve(organization.stripe_subscription_id)
    item = subscription_seat_item(subscription)
    if item is None or item.plan is None:
        raise BillingRefused(
            "This subscription has no seat plan we recognise. Contact support.",
            code="unknown_seat_item",
        )
    return subscription, item


def seat_change_preview(
    *, organization: Organization, actor, seats, now: datetime | None = None
) -> SeatPreview:
    """What a change to ``seats`` would cost now and at renewal, without changing anything."""
    now = now or timezone.now()
    billing_authorize(organization=organization, actor=actor)
    seats = seats_validate(seats=seats)
    subscription, item = _subscribed_seat_item(organization)
    target_plan = _target_plan(organization, item)
    if seats > item.quantity:
        _tier_limit_check(plan=item.plan, seats=seats)
        invoice = gateway.invoice_preview(
            customer_id=_obj_id(subscription["customer"]),
            subscription_id=subscription["id"],
            item_id=item.item_id,
            price_id=item.price_id,
            quantity=seats,
            proration_date=to_timestamp(now),
        )
        return SeatPreview(
            seats_from=item.quantity,
            seats_to=seats,
            amount_due=_proration_total(invoice),
            effective_at=None,
            renewal_amount=target_plan.amount_for(seats),
        )
    _decrease_checks(organization=organization, seats=seats, now=now)
    return SeatPreview(
        seats_from=item.quantity,
        seats_to=seats,
        amount_due=0,
        effective_at=item.period_end,
        renewal_amount=target_plan.amount_for(seats),
    )


def _proration_total(invoice: dict) -> int:
    """The prorated part of a preview: what an ``always_invoice`` change charges now."""
    lines = (invoice.get("lines") or {}).get("data", [])
    prorations = [line for line in lines if _line_is_proration(line)]
    if prorations:
        return sum(int(line["amount"]) for line in prorations)
    return int(invoice.get("amount_due") or 0)


def _line_is_proration(line: dict) -> bool:
    parent = line.get("parent") or {}
    for key in ("subscription_item_details", "invoice_item_details"):
        details = parent.get(key) or {}
        if details.get("proration"):
            return True
    return bool(line.get("proration"))


def _target_plan(organization: Organization, item: SeatItem) -> Plan:
    change = _pending_change(organization)
    if change is None:
        return item.plan
    return catalog.plan_get(tier=change.target_tier, cycle=change.target_cycle)


def seats_change(*, organization: Organization, actor, seats, now: datetime | None = None):
    """Set the seat count: up applies now (prorated), down waits for renewal."""
    now = now or timezone.now()
    billing_authorize(organization=organization, actor=actor)
    seats = seats_validate(seats=seats)
    purchased = organization.seats_purchased or 0
    if seats > purchased:
        return seats_increase(organization=organization, actor=actor, seats=seats, now=now)
    return seats_decrease_schedule(organization=organization, actor=actor, seats=seats, now=now)


def seats_increase(*, organization: Organization, actor, seats, now: datetime | None = None):
    """Raise the paid quantity now; Stripe invoices the proration and must be paid.

    A declined card raises ``PaymentDeclined`` and changes nothing here or at Stripe.
    """
    now = now or timezone.now()
    billing_authorize(organization=organization, actor=actor)
    seats = seats_validate(seats=seats)
    with transaction.atomic():
        org = _lock(organization)
        subscription, item = _subscribed_seat_item(org)
        if seats == item.quantity:
            # Already at Stripe: a retry after a lost answer, or a double submit.
            _pending_change_drop_quantity(organization=org, quantity=seats, now=now)
            return subscription_sync(organization=org, subscription=subscription, now=now)
        if seats < item.quantity:
            raise BillingRefused(
                f"You already pay for {_seats_word(item.quantity)}. To go down, choose a "
                "lower number: the decrease applies at renewal.",
                code="not_an_increase",
            )
        _tier_limit_check(plan=item.plan, seats=seats)
        period = to_timestamp(item.period_start) if item.period_start else 0
        updated = gateway.subscription_item_set(
            subscription_id=subscription["id"],
            item_id=item.item_id,
            price_id=item.price_id,
            quantity=seats,
            idempotency_key=f"seats-{org.pk}-{subscription['id']}-{period}-"
            f"{item.quantity}-to-{seats}",
        )
        _pending_change_drop_quantity(organization=org, quantity=seats, now=now)
    return subscription_sync(organization=org, subscription=updated, now=now)


def _decrease_checks(*, organization: Organization, seats: int, now: datetime) -> None:
    used = seat_summary(organization=organization, now=now).used
    if seats < used:
        raise BillingRefused(
            f"{_seats_word(used)} are in use, so you can't go down to {seats}. Remove "
            "members or pending invitations first.",
            code="seats_below_used",
        )


def seats_decrease_schedule(
    *, organization: Organization, actor, seats, now: datetime | None = None
) -> PendingChange | None:
    """Record a decrease for the next renewal. Never below used; nothing is credited."""
    now = now or timezone.now()
    billing_authorize(organization=organization, actor=actor)
    seats = seats_validate(seats=seats)
    with transaction.atomic():
        org = _lock(organization)
        _subscribed_state_check(org)
        _decrease_checks(organization=org, seats=seats, now=now)
        return _pending_change_upsert(organization=org, actor=actor, now=now, target_quantity=seats)


def _subscribed_state_check(organization: Organization) -> None:
    if (
        organization.subscription_status not in ACTIVE_STATUSES
        or not organization.current_period_end
    ):
        raise BillingRefused(
            "There is no active subscription. Choose a plan first.", code="not_subscribed"
        )
    if organization.cancel_at_period_end:
        raise BillingRefused(
            "The subscription is set to end at the end of this period. Undo the "
            "cancellation before changing the plan for the next one.",
            code="cancel_scheduled",
        )


# --- Cycle and tier changes ------------------------------------------------------------


def cycle_change_schedule(
    *, organization: Organization, actor, cycle: str, now: datetime | None = None
) -> PendingChange | None:
    """Switch monthly ↔ annual at renewal: nothing is charged now, the anchor stays."""
    now = now or timezone.now()
    billing_authorize(organization=organization, actor=actor)
    if cycle not in Cycle.INTERVALS:
        raise BillingRefused("Choose monthly or annual billing.", code="cycle_unknown")
    with transaction.atomic():
        org = _lock(organization)
        _subscribed_state_check(org)
        return _pending_change_upsert(organization=org, actor=actor, now=now, target_cycle=cycle)


def plan_change(*, organization: Organization, actor, tier: str, now: datetime | None = None):
    """Upgrades apply now (prorated); downgrades wait for renewal."""
    now = now or timezone.now()
    billing_authorize(organization=organization, actor=actor)
    if tier not in catalog.tier_names():
        raise BillingRefused(
            f"Unknown plan {tier!r}. Choose {', '.join(catalog.tier_names().values())}.",
            code="plan_unknown",
        )
    if not organization.plan_tier:
        raise BillingRefused(
            "There is no active subscription. Choose a plan first.", code="not_subscribed"
        )
    if catalog.tier_rank(tier) > catalog.tier_rank(organization.plan_tier):
        return plan_upgrade(organization=organization, actor=actor, tier=tier, now=now)
    return plan_downgrade_schedule(organization=organization, actor=actor, tier=tier, now=now)


@dataclass(frozen=True)
class PlanPreview:
    """What a tier move would do, for the confirmation page."""

    upgrade: bool  # True: applies now, prorated; False: at renewal
    target: Plan
    seats: int
    amount_due: int  # cents charged now (0 for a downgrade)
    renewal_amount: int  # cents per interval from the next renewal
    effective_at: datetime | None  # None: now


def plan_change_preview(
    *, organization: Organization, actor, tier: str, now: datetime | None = None
) -> PlanPreview:
    """The figures for a tier move, checking the same rules the move itself will."""
    now = now or timezone.now()
    billing_authorize(organization=organization, actor=actor)
    if tier not in catalog.tier_names():
        raise BillingRefused(
            f"Unknown plan {tier!r}. Choose {', '.join(catalog.tier_names().values())}.",
            code="plan_unknown",
        )
    subscription, item = _subscribed_seat_item(organization)
    change = _pending_change(organization)
    if catalog.tier_rank(tier) > catalog.tier_rank(item.plan.tier):
        target = plan_resolve(tier=tier, cycle=item.plan.cycle)
        _tier_limit_check(plan=target, seats=item.quantity)
        invoice = gateway.invoice_preview(
            customer_id=_obj_id(subscription["customer"]),
            subscription_id=subscription["id"],
            item_id=item.item_id,
            price_id=target.price_id,
            quantity=item.quantity,
            proration_date=to_timestamp(now),
        )
        seats = change.target_quantity if change else item.quantity
        return PlanPreview(
            upgrade=True,
            target=target,
            seats=item.quantity,
            amount_due=_proration_total(invoice),
            renewal_amount=plan_resolve(
                tier=tier, cycle=change.target_cycle if change else item.plan.cycle
            ).amount_for(seats),
            effective_at=None,
        )
    if tier == item.plan.tier:
        raise BillingRefused(f"You are already on {item.plan.tier_name}.", code="same_plan")
    target = plan_resolve(tier=tier, cycle=change.target_cycle if change else item.plan.cycle)
    used = seat_summary(organization=organization, now=now).used
    _downgrade_fits(plan=target, used=used)
    seats = change.target_quantity if change else item.quantity
    if target.max_seats is not None:
        seats = min(seats, target.max_seats)
    return PlanPreview(
        upgrade=False,
        target=target,
        seats=seats,
        amount_due=0,
        renewal_amount=target.amount_for(seats),
        effective_at=item.period_end,
    )


def _downgrade_fits(*, plan: Plan, used: int) -> None:
    if plan.max_seats is not None and used > plan.max_seats:
        excess = used - plan.max_seats
        raise BillingRefused(
            f"You are using {used} seats; {plan.tier_name} allows up to "
            f"{plan.max_seats}. Remove {excess} {'member' if excess == 1 else 'members'} "
            "or invitations to continue.",
            code="downgrade_over_limit",
        )


def plan_upgrade(*, organization: Organization, actor, tier: str, now: datetime | None = None):
    now = now or timezone.now()
    billing_authorize(organization=organization, actor=actor)
    with transaction.atomic():
        org = _lock(organization)
        subscription, item = _subscribed_seat_item(org)
        if catalog.tier_rank(tier) <= catalog.tier_rank(item.plan.tier):
            raise BillingRefused(
                f"You are already on {item.plan.tier_name}.", code="not_an_upgrade"
            )
        plan = plan_resolve(tier=tier, cycle=item.plan.cycle)
        _tier_limit_check(plan=plan, seats=item.quantity)
        updated = gateway.subscription_item_set(
            subscription_id=subscription["id"],
            item_id=item.item_id,
            price_id=plan.price_id,
            quantity=item.quantity,
            idempotency_key=f"upgrade-{org.pk}-{subscription['id']}-{item.price_id}-to-"
            f"{plan.price_id}-{item.quantity}",
        )
        change = _pending_change(org)
        if change is not None:
            # The upgrade is the plan now; a pending downgrade is superseded by it.
            change.from_tier = tier
            change.target_tier = tier
            _pending_change_save(change, now=now)
    return subscription_sync(organization=org, subscription=updated, now=now)


def plan_downgrade_schedule(
    *, organization: Organization, actor, tier: str, now: datetime | None = None
) -> PendingChange | None:
    """Move to a smaller tier at renewal, if current usage fits its limits."""
    now = now or timezone.now()
    billing_authorize(organization=organization, actor=actor)
    with transaction.atomic():
        org = _lock(organization)
        _subscribed_state_check(org)
        cycle = org.billing_cycle
        change = _pending_change(org)
        if change is not None:
            cycle = change.target_cycle
        plan = plan_resolve(tier=tier, cycle=cycle)
        _downgrade_fits(plan=plan, used=seat_summary(organization=org, now=now).used)
        target_quantity = change.target_quantity if change else org.seats_purchased
        if plan.max_seats is not None:
            target_quantity = min(target_quantity, plan.max_seats)
        return _pending_change_upsert(
            organization=org,
            actor=actor,
            now=now,
            target_tier=tier,
            target_quantity=target_quantity,
        )


# --- Cancel and resubscribe -------------------------------------------------------------


def subscription_cancel(*, organization: Organization, actor, now: datetime | None = None):
    """End the subscription at the period's end; it can be undone until then."""
    return _cancel_at_period_end(organization=organization, actor=actor, cancel=True, now=now)


def subscription_uncancel(*, organization: Organization, actor, now: datetime | None = None):
    return _cancel_at_period_end(organization=organization, actor=actor, cancel=False, now=now)


def _cancel_at_period_end(*, organization, actor, cancel: bool, now) -> Organization:
    now = now or timezone.now()
    billing_authorize(organization=organization, actor=actor)
    with transaction.atomic():
        org = _lock(organization)
        if org.subscription_status not in ACTIVE_STATUSES:
            raise BillingRefused("There is no active subscription.", code="not_subscribed")
        if bool(org.cancel_at_period_end) == cancel:
            raise BillingRefused(
                "The subscription is already set to end at the period's end."
                if cancel
                else "The subscription is not set to end.",
                code="cancel_unchanged",
            )
        change = _pending_change(org)
        if cancel and change is not None:
            # No renewal is coming for it to apply at, and Stripe refuses to change the
            # cancellation of a subscription that a schedule manages.
            _pending_change_close(
                change, status=PendingChange.Status.CANCELLED, actor=actor, now=now
            )
            _seats_at_renewal_write(org, None)
        # One key per request, to the microsecond: with whole seconds, cancel, undo and
        # cancel again within a second replayed the first answer and Stripe never saw
        # the third (found by tests/reliability/test_webhook_chaos.py). Double submits
        # are refused above, under the lock, so the key only covers network retries.
        updated = gateway.subscription_cancel_at_period_end(
            subscription_id=org.stripe_subscription_id,
            cancel=cancel,
            idempotency_key=f"cancel-{org.pk}-{org.stripe_subscription_id}-{cancel}-"
            f"{int(now.timestamp() * 1_000_000)}",
        )
    return subscription_sync(organization=org, subscription=updated, now=now)


# --- Pending changes ----------------------------------------------------------------------


def _pending_change_upsert(
    *,
    organization: Organization,
    actor,
    now: datetime,
    target_quantity: int | None = None,
    target_cycle: str | None = None,
    target_tier: str | None = None,
) -> PendingChange | None:
    """Merge a deferred request into the organization's one pending change.

    Returns the change, or None when the merge leaves nothing to change (it is then
    cancelled). Call with the organization row locked.
    """
    purchased = organization.seats_purchased or 0
    change = _pending_change(organization)
    if change is None:
        change = PendingChange(
            organization=organization,
            from_quantity=purchased,
            from_tier=organization.plan_tier,
            from_cycle=organization.billing_cycle,
            target_quantity=purchased,
            target_tier=organization.plan_tier,
            target_cycle=organization.billing_cycle,
            stripe_subscription_id=organization.stripe_subscription_id,
            effective_at=organization.current_period_end,
            created_by=actor if getattr(actor, "pk", None) else None,
            created_at=now,
        )
    if target_quantity is not None:
        if target_quantity > purchased:
            raise BillingRefused(
                "A seat increase applies now, not at renewal.", code="not_a_decrease"
            )
        change.target_quantity = target_quantity
    if target_cycle is not None:
        change.target_cycle = target_cycle
    if target_tier is not None:
        change.target_tier = target_tier
    plan = plan_resolve(tier=change.target_tier, cycle=change.target_cycle)
    _tier_limit_check(plan=plan, seats=change.target_quantity)
    if change.is_noop:
        if change.pk:
            _pending_change_close(
                change, status=PendingChange.Status.CANCELLED, actor=actor, now=now
            )
        _seats_at_renewal_write(organization, None)
        return None
    _pending_change_save(change, now=now)
    _seats_at_renewal_write(
        organization, change.target_quantity if change.target_quantity < purchased else None
    )
    return change


def _pending_change_save(change: PendingChange, *, now: datetime) -> None:
    if change.pk:
        change.revision += 1
        if change.stripe_schedule_id:
            # The schedule holds the previous version; the job writes this one again.
            change.scheduled_at = None
    change.updated_at = now
    change.save()


def _seats_at_renewal_write(organization: Organization, value: int | None) -> None:
    if organization.seats_at_renewal != value:
        organization.seats_at_renewal = value
        organization.save(update_fields=["seats_at_renewal"])


def _pending_change_drop_quantity(*, organization: Organization, quantity: int, now) -> None:
    """An increase to ``quantity`` replaces any pending decrease."""
    change = _pending_change(organization)
    if change is None:
        return
    change.from_quantity = quantity
    change.target_quantity = quantity
    if change.is_noop:
        _pending_change_close(change, status=PendingChange.Status.CANCELLED, actor=None, now=now)
    else:
        _pending_change_save(change, now=now)
    _seats_at_renewal_write(organization, None)


def _pending_change_close(change: PendingChange, *, status: str, actor, now: datetime) -> None:
    if change.stripe_schedule_id and status == PendingChange.Status.CANCELLED:
        _schedule_release_quietly(change, reason="cancel")
    change.status = status
    change.updated_at = now
    if status == PendingChange.Status.CANCELLED:
        change.cancelled_at = now
        change.cancelled_by = actor if getattr(actor, "pk", None) else None
    if status == PendingChange.Status.APPLIED:
        change.applied_at = now
    change.save()


def _schedule_release_quietly(change: PendingChange, *, reason: str) -> None:
    """Detach the schedule; the subscription keeps its current plan."""
    try:
        gateway.schedule_release(
            schedule_id=change.stripe_schedule_id,
            idempotency_key=f"pc-{change.pk}-r{change.revision}-release-{reason}",
        )
    except gateway.StripeInvalid as exc:
        # Already released or completed: the state we want.
        logger.info("schedule for change %s not released (%s)", change.pk, exc.code)


def pending_change_cancel(
    *, organization: Organization, actor, change_id: int, now: datetime | None = None
) -> PendingChange:
    """Withdraw the pending change; the renewal bills the unchanged plan."""
    now = now or timezone.now()
    billing_authorize(organization=organization, actor=actor)
    with transaction.atomic():
        org = _lock(organization)
        change = (
            PendingChange.objects.select_for_update().filter(organization=org, pk=change_id).first()
        )
        if change is None:
            raise PendingChange.DoesNotExist("No such pending change in this organization.")
        if change.status != PendingChange.Status.PENDING:
            raise BillingRefused(
                f"This change is already {change.get_status_display().lower()}.",
                code="change_closed",
            )
        _pending_change_close(change, status=PendingChange.Status.CANCELLED, actor=actor, now=now)
        _seats_at_renewal_write(org, None)
    return change


def invoices_sync(*, organization: Organization) -> int:
    """Mirror the customer's recent invoices into dj-stripe (for the invoice list)."""
    customer = StripeCustomer.objects.filter(subscriber=organization, livemode=False).first()
    if customer is None:
        return 0
    invoices = gateway.invoices_for_customer(customer.id)
    for invoice in invoices:
        gateway.djstripe_sync(StripeInvoice, invoice)
    return len(invoices)
