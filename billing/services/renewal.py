"""The renewal job's steps (write due changes into a subscription schedule, confirm
them after the renewal), the demo's renew-now, and nightly reconciliation."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from djstripe.models import Customer as StripeCustomer

from billing import catalog, gateway
from billing.models import Drift, PendingChange
from billing.services.common import (
    ACTIVE_STATUSES,
    BillingRefused,
    _obj_id,
    _pending_change,
)
from billing.services.subscriptions import (
    _pending_change_close,
    _schedule_release_quietly,
    subscription_sync,
)
from billing.stripe_data import (
    SeatItem,
    schedule_seat_item,
    subscription_schedule_id,
    subscription_seat_item,
    to_datetime,
    to_timestamp,
)
from organizations.models import Organization
from seats.selectors import seat_summary

logger = logging.getLogger(__name__)

# --- The renewal job's steps -----------------------------------------------------------


def pending_change_schedule(*, change_id: int, now: datetime | None = None) -> str:
    """Write a due change into a Stripe subscription schedule before the renewal.

    Two Stripe writes and no read: creating the schedule from the subscription answers
    with its first phase, the current period as it stands (plan, seats, end), which is
    all this step needs to know. Only when Stripe refuses that (the subscription has a
    schedule already, or has ended) does it read the subscription to find out which.

    Claims the row with ``skip_locked`` so two workers never work on one change. The
    Stripe calls are idempotent (keys from the change's id and revision), so a worker
    killed after Stripe answered but before the commit is replayed safely by the next
    run. Returns what it did: "scheduled", "skipped", "missed" or "failed".
    """
    now = now or timezone.now()
    with transaction.atomic():
        change = (
            PendingChange.objects.select_for_update(skip_locked=True)
            .filter(pk=change_id, status=PendingChange.Status.PENDING, scheduled_at__isnull=True)
            .first()
        )
        if change is None:
            return "skipped"
        schedule, item = _schedule_with_seat_item(change)
        change.stripe_schedule_id = schedule["id"] if schedule else ""
        if item is None:  # ended, or no seat line left to change
            if schedule is not None:
                _schedule_release_quietly(change, reason="ended")
                change.stripe_schedule_id = ""
            _pending_change_fail(change, now=now, error="The subscription has ended.")
            return "failed"
        if item.period_end and item.period_end > change.effective_at:
            # Stripe renewed without the change: apply it at the next renewal instead.
            _pending_change_missed(change, item=item, now=now)
            return "missed"
        target = catalog.plan_get(tier=change.target_tier, cycle=change.target_cycle)
        phases = [
            {
                "items": [{"price": item.price_id, "quantity": item.quantity}],
                "start_date": schedule["phases"][0]["start_date"],
                "end_date": to_timestamp(item.period_end),
                "proration_behavior": "none",
            },
            {
                "items": [{"price": target.price_id, "quantity": change.target_quantity}],
                "duration": {"interval": target.interval, "interval_count": 1},
                "proration_behavior": "none",
            },
        ]
        gateway.schedule_set_phases(
            schedule_id=schedule["id"],
            phases=phases,
            idempotency_key=f"pc-{change.pk}-r{change.revision}-phases",
        )
        change.scheduled_at = now
        change.attempts += 1
        change.last_error = ""
        change.updated_at = now
        change.save()
    return "scheduled"


def _schedule_with_seat_item(change: PendingChange) -> tuple[dict | None, SeatItem | None]:
    """The subscription's schedule and its current seat line; no schedule when the
    subscription has ended."""
    try:
        schedule = gateway.schedule_create_from_subscription(
            subscription_id=change.stripe_subscription_id,
            idempotency_key=f"pc-{change.pk}-r{change.revision}-schedule",
        )
    except gateway.StripeInvalid:
        # An earlier attempt's schedule whose idempotency key has expired, or one made
        # from the dashboard: keep it. Or the subscription has ended.
        subscription = gateway.subscription_retrieve(change.stripe_subscription_id)
        schedule_id = subscription_schedule_id(subscription)
        if subscription.get("status") == "canceled":
            return None, None
        if not schedule_id:
            raise
        return gateway.schedule_retrieve(schedule_id), subscription_seat_item(subscription)
    return schedule, schedule_seat_item(schedule)


def pending_change_confirm(*, change_id: int, now: datetime | None = None) -> str:
    """After the renewal, check Stripe billed the change, release the schedule, sync.

    Returns "applied", "waiting" (Stripe has not renewed yet), "missed" or "skipped".
    """
    now = now or timezone.now()
    with transaction.atomic():
        change = (
            PendingChange.objects.select_for_update(skip_locked=True)
            .filter(pk=change_id, status=PendingChange.Status.PENDING)
            .select_related("organization")
            .first()
        )
        if change is None:
            return "skipped"
        subscription = gateway.subscription_retrieve(change.stripe_subscription_id)
        item = subscription_seat_item(subscription)
        if item is None or not item.period_end or item.period_end <= change.effective_at:
            return "waiting"
        target = catalog.plan_get(tier=change.target_tier, cycle=change.target_cycle)
        if item.price_id != target.price_id or item.quantity != change.target_quantity:
            _pending_change_missed(change, item=item, now=now)
            return "missed"
        if change.stripe_schedule_id:
            _schedule_release_quietly(change, reason="applied")
        _pending_change_close(change, status=PendingChange.Status.APPLIED, actor=None, now=now)
        organization = change.organization
    subscription_sync(organization=organization, now=now)
    return "applied"


def _pending_change_missed(change: PendingChange, *, item: SeatItem, now: datetime) -> None:
    """The renewal went by without the change: carry it to the next one, flag staff."""
    logger.warning("pending change %s missed its renewal; moved to the next", change.pk)
    if change.stripe_schedule_id:
        _schedule_release_quietly(change, reason=f"missed-{change.revision}")
    change.missed_window = True
    change.effective_at = item.period_end
    change.from_quantity = item.quantity
    change.from_tier = item.plan.tier
    change.from_cycle = item.plan.cycle
    change.stripe_schedule_id = ""
    change.scheduled_at = None
    change.revision += 1
    change.updated_at = now
    change.save()


def _pending_change_fail(change: PendingChange, *, now: datetime, error: str) -> None:
    change.status = PendingChange.Status.FAILED
    change.last_error = error
    change.updated_at = now
    change.save()
    Organization.objects.filter(pk=change.organization_id).update(seats_at_renewal=None)


def pending_change_record_error(*, change_id: int, error: str, now: datetime | None = None) -> None:
    """Note a transient failure on the change so staff can see retries happening."""
    now = now or timezone.now()
    PendingChange.objects.filter(pk=change_id).update(last_error=error[:500], updated_at=now)


def renewal_run(*, now: datetime | None = None) -> dict[str, int]:
    """One pass of the renewal job: schedule what is due, confirm what has renewed."""
    from billing.selectors import pending_changes_due, pending_changes_to_confirm

    now = now or timezone.now()
    outcome: dict[str, int] = {}
    for change_id in pending_changes_due(now=now):
        result = pending_change_schedule(change_id=change_id, now=now)
        outcome[result] = outcome.get(result, 0) + 1
    for change_id in pending_changes_to_confirm(now=now):
        result = pending_change_confirm(change_id=change_id, now=now)
        outcome[result] = outcome.get(result, 0) + 1
    return outcome


def renew_now(*, organization: Organization, actor, now: datetime | None = None) -> dict:
    """Demo and staff tool: run the organization's renewal by advancing its test clock.

    Writes any pending change into the schedule, moves the Stripe test clock just past
    the period end, then confirms the change and syncs, exactly as the beat job would.
    """
    customer = StripeCustomer.objects.filter(subscriber=organization, livemode=False).first()
    clock_id = _obj_id((customer.stripe_data or {}).get("test_clock")) if customer else None
    if not clock_id or not organization.current_period_end:
        raise BillingRefused(
            "Only a test-mode subscription with a test clock can be renewed on demand.",
            code="no_test_clock",
        )
    clock = gateway.test_clock_retrieve(clock_id)
    clock_now = to_datetime(clock["frozen_time"])
    change = _pending_change(organization)
    if change is not None:
        pending_change_schedule(change_id=change.pk, now=clock_now)
    target = organization.current_period_end + timedelta(minutes=5)
    gateway.test_clock_advance(clock_id=clock_id, frozen_time=to_timestamp(target))
    result = {"clock": target.isoformat()}
    if change is not None:
        result["change"] = pending_change_confirm(change_id=change.pk, now=target)
    subscription_sync(organization=organization, now=now)
    return result


# --- Reconciliation ---------------------------------------------------------------------


def reconcile_organization(*, organization: Organization, now: datetime | None = None) -> list:
    """Compare used seats, the app's purchased seats, Stripe's quantity and the next
    schedule phase; open a Drift for each disagreement and close the ones now gone."""
    now = now or timezone.now()
    if not organization.stripe_subscription_id:
        return []
    subscription = gateway.subscription_retrieve(organization.stripe_subscription_id)
    item = subscription_seat_item(subscription)
    stripe_quantity = item.quantity if item and subscription.get("status") != "canceled" else 0
    summary = seat_summary(organization=organization, now=now)
    change = _pending_change(organization)
    next_quantity = None
    schedule_id = subscription_schedule_id(subscription)
    if schedule_id:
        schedule = gateway.schedule_retrieve(schedule_id)
        phases = schedule.get("phases") or []
        if len(phases) > 1:
            next_quantity = int(phases[-1]["items"][0].get("quantity") or 0)
    found: dict[str, str] = {}
    if summary.used > stripe_quantity and subscription.get("status") in ACTIVE_STATUSES:
        found[Drift.Kind.OVER_USED] = (
            f"{summary.used} seats used, {stripe_quantity} paid at Stripe."
        )
    if (organization.seats_purchased or 0) != stripe_quantity:
        found[Drift.Kind.PURCHASED_MISMATCH] = (
            f"App says {organization.seats_purchased}, Stripe says {stripe_quantity}."
        )
    if (
        change is not None
        and change.scheduled_at
        and next_quantity is not None
        and (next_quantity != change.target_quantity)
    ):
        found[Drift.Kind.RENEWAL_MISMATCH] = (
            f"Change wants {change.target_quantity}, schedule has {next_quantity}."
        )
    if summary.at_renewal < summary.members:
        found[Drift.Kind.RENEWAL_BELOW_USED] = (
            f"{summary.members} members but {summary.at_renewal} seats at renewal."
        )
    drifts = []
    with transaction.atomic():
        open_drifts = {
            d.kind: d
            for d in Drift.objects.select_for_update().filter(
                organization=organization, resolved_at__isnull=True
            )
        }
        for kind, detail in found.items():
            drift = open_drifts.pop(kind, None) or Drift(
                organization=organization, kind=kind, detected_at=now
            )
            drift.used = summary.used
            drift.app_purchased = organization.seats_purchased
            drift.stripe_quantity = stripe_quantity
            drift.schedule_next_quantity = next_quantity
            drift.detail = detail
            drift.save()
            drifts.append(drift)
        for stale in open_drifts.values():
            stale.resolved_at = now
            stale.resolution = "No longer detected."
            stale.save()
    return drifts


def drift_repair(*, drift: Drift, actor, now: datetime | None = None) -> str:
    """Staff's repair: re-read Stripe (it is the truth for what is billed) and rewrite the
    pending change's schedule; seat overuse needs a person and is only re-checked."""
    now = now or timezone.now()
    organization = drift.organization
    subscription_sync(organization=organization, now=now)
    if drift.kind == Drift.Kind.RENEWAL_MISMATCH:
        change = _pending_change(organization)
        if change is not None:
            with transaction.atomic():
                PendingChange.objects.filter(pk=change.pk).update(
                    scheduled_at=None, revision=change.revision + 1, updated_at=now
                )
            pending_change_schedule(change_id=change.pk, now=now)
    organization.refresh_from_db()
    reconcile_organization(organization=organization, now=now)
    drift.refresh_from_db()
    if drift.resolved_at is None:
        return "Still drifting after a resync: " + drift.detail
    Drift.objects.filter(pk=drift.pk).update(resolved_by=actor, resolution="Repaired by staff.")
    return "Repaired."
