"""A Stripe outage inside the renewal window: no pending change is lost.

The emulator answers 503, drops connections, or rate-limits (429) every request the
renewal job makes. The job's task (run eagerly, with its real autoretry policy) gives
up for now and records the error on the change. If Stripe recovers before the renewal,
the next run applies the change and the renewal bills it; if the outage outlasts the
renewal, the change is flagged for staff (``missed_window``) and applied at the next
one. Either way Stripe ends up billing exactly what the customer asked for.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import stripe
from celery.exceptions import Retry

from billing import services, tasks
from billing.models import PendingChange
from billing.stripe_data import to_timestamp
from tests.billing.conftest import just_after

OUTAGES = ["503", "timeout", "429"]


def outage_start(control, kind: str) -> None:
    status = "timeout" if kind == "timeout" else int(kind)
    # Only the app's subscription calls fail, so the test can still move the clock.
    control.set_faults(fail_next=10_000, status=status, match_path="/v1/subscription")


def faults_seen(control) -> int:
    return sum(1 for r in control.requests() if r["fault"])


def run_job(change: PendingChange, step: str = "schedule") -> str:
    """One attempt of the renewal job's task, as a worker runs it. "retry" means the
    task asked Celery to run it again later (its autoretry policy on a transient error).
    """
    try:
        return tasks.pending_change_apply.apply(args=(change.pk, step)).get()
    except Retry:
        return "retry"


@pytest.fixture
def decrease(stripe_world, org, owner, member):
    org = stripe_world.subscribe(org, owner, seats=5)
    change = services.seats_change(organization=org, actor=owner, seats=3)
    return org, change


def advance_quietly(stripe_world, org, to) -> None:
    """Move Stripe's clock; webhooks wait in the outbox (Stripe retries them later)."""
    stripe.test_helpers.TestClock.advance(stripe_world.clock_id(org), frozen_time=to_timestamp(to))


@pytest.mark.parametrize("kind", OUTAGES)
def test_changes_wait_out_a_short_outage_and_apply_before_the_renewal(
    decrease, stripe_world, tally, kind
):
    org, change = decrease
    control = stripe_world.control
    window = org.current_period_end - timedelta(hours=1)
    advance_quietly(stripe_world, org, window)
    stripe_world.deliver()

    outage_start(control, kind)
    attempts = [run_job(change) for _ in range(3)]
    control.clear_faults()

    assert attempts == ["retry"] * 3
    change.refresh_from_db()
    assert change.status == "pending" and change.scheduled_at is None
    assert change.last_error, "staff can see the job is retrying"
    tally.add("faults injected", faults_seen(control))

    # A minute later Stripe is back; the next run of the job writes the schedule.
    advance_quietly(stripe_world, org, window + timedelta(minutes=1))
    assert run_job(change) == "scheduled"
    stripe_world.advance(org, just_after(org.current_period_end))
    assert run_job(change, "confirm") == "applied"

    change.refresh_from_db()
    assert change.status == "applied" and not change.missed_window
    org.refresh_from_db()
    assert org.seats_purchased == 3
    assert [inv["amount_paid"] for inv in stripe_world.invoices(org)] == [9_000, 5_400]


def test_an_outage_past_the_renewal_flags_the_change_and_applies_it_next_time(
    decrease, stripe_world, tally
):
    org, change = decrease
    control = stripe_world.control
    end = org.current_period_end
    advance_quietly(stripe_world, org, end - timedelta(hours=1))

    outage_start(control, "503")
    assert run_job(change) == "retry"
    advance_quietly(stripe_world, org, just_after(end))  # Stripe renews without the change
    assert run_job(change) == "retry"
    tally.add("faults injected", faults_seen(control))
    control.clear_faults()
    stripe_world.deliver()

    assert run_job(change) == "missed"
    change.refresh_from_db()
    assert change.status == "pending"
    assert change.missed_window, "staff are told the change missed its renewal"
    assert change.target_quantity == 3

    org.refresh_from_db()
    stripe_world.renew(org)
    change.refresh_from_db()
    assert change.status == "applied"
    assert org.seats_purchased == 3
    assert [inv["amount_paid"] for inv in stripe_world.invoices(org)] == [9_000, 9_000, 5_400]
