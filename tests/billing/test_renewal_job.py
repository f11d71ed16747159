"""The renewal job is idempotent and crash-safe: reruns, Stripe failures before and after
a write is applied, and a missed window each end with every change applied once."""

from datetime import timedelta

import pytest
import stripe
from celery.exceptions import Retry

from billing import services, tasks
from billing.gateway import StripeTransient
from billing.models import PendingChange


@pytest.fixture
def decrease(stripe_world, org, owner, member):
    """Acme on Teams monthly with 5 seats, 2 used, and a pending decrease to 3."""
    org = stripe_world.subscribe(org, owner, seats=5)
    change = services.seats_change(organization=org, actor=owner, seats=3)
    org.refresh_from_db()
    return org, change


def _writes(control, path: str) -> list[dict]:
    """Stripe writes that really executed (idempotent replays excluded)."""
    return [
        entry
        for entry in control.requests(method="POST", path=path)
        if not entry.get("replayed") and 200 <= entry["status"] < 300
    ]


def test_running_the_job_twice_writes_the_schedule_once(stripe_world, decrease):
    org, change = decrease
    before_end = org.current_period_end - timedelta(hours=1)

    first = services.renewal_run(now=before_end)
    second = services.renewal_run(now=before_end)

    assert first == {"scheduled": 1}
    assert second == {}
    assert len(_writes(stripe_world.control, "/v1/subscription_schedules")) == 2  # create+phases
    org = stripe_world.renew(org)
    services.renewal_run(now=org.current_period_start + timedelta(hours=1))
    assert [inv["amount_paid"] for inv in stripe_world.invoices(org)] == [9_000, 5_400]
    change.refresh_from_db()
    assert change.status == PendingChange.Status.APPLIED


def test_the_schedule_step_makes_two_writes_and_no_read(stripe_world, decrease):
    """Stripe's per-second budget counts reads too: the schedule created from the
    subscription says what the current period is, so the step does not read first."""
    org, change = decrease
    stripe_world.control.clear_requests()

    services.pending_change_schedule(
        change_id=change.pk, now=org.current_period_end - timedelta(hours=1)
    )

    made = [(e["method"], e["path"]) for e in stripe_world.control.requests()]
    change.refresh_from_db()
    assert made == [
        ("POST", "/v1/subscription_schedules"),
        ("POST", f"/v1/subscription_schedules/{change.stripe_schedule_id}"),
    ]


def test_a_subscription_with_a_schedule_already_keeps_it(stripe_world, decrease):
    """An earlier attempt's schedule whose idempotency key has expired (Stripe keeps
    keys for 24 hours) is read and reused, not refused."""
    org, change = decrease
    earlier = stripe.SubscriptionSchedule.create(from_subscription=org.stripe_subscription_id)

    outcome = services.pending_change_schedule(
        change_id=change.pk, now=org.current_period_end - timedelta(hours=1)
    )

    change.refresh_from_db()
    assert (outcome, change.stripe_schedule_id) == ("scheduled", earlier["id"])
    org = stripe_world.renew(org)
    assert [inv["amount_paid"] for inv in stripe_world.invoices(org)] == [9_000, 5_400]


def test_a_change_for_a_cancelled_subscription_fails_and_frees_the_seats(stripe_world, decrease):
    org, change = decrease
    stripe.Subscription.cancel(org.stripe_subscription_id)

    outcome = services.pending_change_schedule(
        change_id=change.pk, now=org.current_period_end - timedelta(hours=1)
    )

    change.refresh_from_db()
    org.refresh_from_db()
    assert outcome == "failed"
    assert (change.status, change.last_error) == (
        PendingChange.Status.FAILED,
        "The subscription has ended.",
    )
    assert org.seats_at_renewal is None


def test_changes_are_not_due_before_the_lead_time(stripe_world, decrease):
    org, change = decrease
    assert services.renewal_run(now=org.current_period_end - timedelta(days=3)) == {}
    change.refresh_from_db()
    assert change.scheduled_at is None


def test_crash_after_stripe_applied_the_phases_is_safe_to_rerun(stripe_world, decrease):
    org, change = decrease
    before_end = org.current_period_end - timedelta(hours=1)
    # Stripe applies the phase write, then the answer is lost: our transaction rolls back.
    stripe_world.control.set_faults(
        fail_next=1,
        status=500,
        match_path="/v1/subscription_schedules/",
        match_method="POST",
        after_apply=True,
    )

    with pytest.raises(StripeTransient):
        services.pending_change_schedule(change_id=change.pk, now=before_end)
    change.refresh_from_db()
    assert change.scheduled_at is None  # nothing recorded on our side

    assert services.pending_change_schedule(change_id=change.pk, now=before_end) == "scheduled"

    schedules = stripe_world.control.requests(method="POST", path="/v1/subscription_schedules")
    created = [
        e
        for e in schedules
        if e["path"] == "/v1/subscription_schedules"
        and 200 <= e["status"] < 300
        and not e.get("replayed")
    ]
    assert len(created) == 1
    org = stripe_world.renew(org)
    assert [inv["amount_paid"] for inv in stripe_world.invoices(org)] == [9_000, 5_400]


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v1/subscription_schedules", "POST"),  # create from the subscription
        ("/v1/subscription_schedules/", "POST"),  # write the phases
    ],
    ids=["create", "phases"],
)
def test_a_stripe_outage_at_any_step_loses_nothing(stripe_world, decrease, path, method):
    org, change = decrease
    before_end = org.current_period_end - timedelta(hours=1)
    stripe_world.control.set_faults(fail_next=1, status=503, match_path=path, match_method=method)

    with pytest.raises(StripeTransient):
        services.pending_change_schedule(change_id=change.pk, now=before_end)

    change.refresh_from_db()
    assert (change.status, change.scheduled_at) == (PendingChange.Status.PENDING, None)
    assert services.renewal_run(now=before_end) == {"scheduled": 1}
    org = stripe_world.renew(org)
    assert [inv["amount_paid"] for inv in stripe_world.invoices(org)] == [9_000, 5_400]


def test_the_task_retries_transient_errors_and_records_them(stripe_world, decrease):
    _org, change = decrease
    stripe_world.control.set_faults(
        fail_next=1, status=500, match_path="/v1/subscription_schedules", match_method="POST"
    )

    # The retry policy turns a transient Stripe error into a Celery retry (eager mode
    # raises it instead of sleeping); the change notes the error for staff.
    with pytest.raises(Retry):
        tasks.pending_change_apply.apply(args=[change.pk, "schedule"], throw=True)
    change.refresh_from_db()
    assert "not answering" in change.last_error
    assert change.scheduled_at is None

    assert tasks.pending_change_apply.apply(args=[change.pk, "schedule"]).get() == "scheduled"
    change.refresh_from_db()
    assert (change.scheduled_at is not None, change.last_error) == (True, "")


def test_a_change_that_missed_its_renewal_moves_to_the_next_and_is_flagged(stripe_world, decrease):
    org, change = decrease
    # The job never ran before the period ended: Stripe renewed the old plan.
    stripe_world.advance(org, org.current_period_end + timedelta(minutes=5))
    org.refresh_from_db()

    outcome = services.renewal_run(now=org.current_period_start + timedelta(minutes=10))

    assert outcome == {"missed": 1}
    change.refresh_from_db()
    assert change.missed_window is True
    assert change.effective_at == org.current_period_end
    # The schedule made to learn the period is released: the next run starts afresh.
    assert stripe_world.subscription(org)["schedule"] is None
    org = stripe_world.renew(org)
    assert [inv["amount_paid"] for inv in stripe_world.invoices(org)] == [9_000, 9_000, 5_400]
    change.refresh_from_db()
    assert change.status == PendingChange.Status.APPLIED


def test_seat_increase_survives_a_lost_answer_without_charging_twice(stripe_world, org, owner):
    org = stripe_world.subscribe(org, owner, seats=3)
    at = org.current_period_start + timedelta(days=7)
    stripe_world.advance(org, at)
    stripe_world.control.set_faults(
        fail_next=1,
        status=502,
        match_path="/v1/subscriptions/",
        match_method="POST",
        after_apply=True,
    )

    with pytest.raises(StripeTransient):
        services.seats_change(organization=org, actor=owner, seats=4, now=at)
    services.seats_change(organization=org, actor=owner, seats=4, now=at)

    org.refresh_from_db()
    assert org.seats_purchased == 4
    prorations = stripe_world.invoices(org)[1:]
    assert len(prorations) == 1
