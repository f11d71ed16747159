"""Real threads against PostgreSQL: 50 joins racing 20 removals in one organization,
and two billing managers changing seats at the same moment through the emulator.

Each thread opens its own connection before a barrier releases them all at once. The
outcome may depend on who wins the organization's row lock, so the assertions are the
invariants every order must keep, never one particular order.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import stripe
from django.db import connection

from billing import services as billing
from billing.models import PendingChange
from organizations.models import Membership, Organization, Role
from organizations.services import (
    membership_add_direct,
    membership_remove,
    organization_create,
)
from seats.exceptions import SeatLimitReached
from seats.models import SeatUsageEvent
from seats.selectors import seat_summary
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(jobs, *, tally, refusals=(SeatLimitReached,)) -> Counter:
    """Release every job at one instant; return how many ended ok, refused or in error."""
    barrier = threading.Barrier(len(jobs))
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def run(job):
        try:
            connection.ensure_connection()
            barrier.wait()
            job()
            result = "ok"
        except refusals:
            result = "refused"
        except Exception as exc:  # reported by the caller's assertion on outcomes
            result = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tally.add("threads raced", len(jobs))
    return outcomes


def assert_ledger_is_true(org, *, cap: int) -> None:
    """Rows replay to their counts, move by one, never exceed the cap, and the last
    equals the memberships that exist."""
    running, previous = 0, None
    rows = SeatUsageEvent.objects.filter(organization=org).order_by("id")
    for count, delta in rows.values_list("count", "delta"):
        running += delta
        assert count == running
        assert count <= cap
        if previous is not None:
            assert abs(count - previous) == 1
        previous = count
    assert running == Membership.objects.filter(organization=org).count()


def test_fifty_joins_racing_twenty_removals_keep_the_ledger_true(settings, tally):
    settings.SEATWISE_TRIAL_SEATS = 40
    owner = UserFactory()
    org = organization_create(name="Crowd", creator=owner)
    leavers = [UserFactory() for _ in range(20)]
    for user in leavers:
        membership_add_direct(organization=org, user=user, actor=owner)
    removals = list(Membership.objects.filter(organization=org, user__in=leavers))
    joiners = [UserFactory() for _ in range(50)]
    jobs = [(lambda m=m: membership_remove(membership=m, actor=owner)) for m in removals]
    jobs += [
        (lambda u=u: membership_add_direct(organization=org, user=u, actor=owner)) for u in joiners
    ]

    # 21 members, 40 seats: 19 joins fit at once and each removal frees one more, so
    # between 19 and 39 joins succeed depending on the order.
    outcomes = run_together(jobs, tally=tally)

    assert set(outcomes) <= {"ok", "refused"}, outcomes
    joined = Membership.objects.filter(organization=org, user__in=joiners).count()
    assert outcomes["ok"] == 20 + joined
    assert 19 <= joined <= 39
    assert not Membership.objects.filter(organization=org, user__in=leavers).exists()
    assert Membership.objects.filter(organization=org).count() == 1 + joined
    assert SeatUsageEvent.objects.filter(organization=org).count() == 1 + 20 + 20 + joined
    assert_ledger_is_true(org, cap=40)


@pytest.fixture
def two_managers(stripe_world, org, owner):
    org = stripe_world.subscribe(org, owner, seats=5)
    managers = [UserFactory(email=f"bm{i}@acme.test") for i in (1, 2)]
    for user in managers:
        membership_add_direct(organization=org, user=user, role=Role.BILLING_MANAGER, actor=owner)
    return org, managers


def stripe_quantity(org) -> int:
    subscription = stripe.Subscription.retrieve(org.stripe_subscription_id)
    return subscription["items"]["data"][0]["quantity"]


def assert_billing_consistent(org) -> None:
    org.refresh_from_db()
    summary = seat_summary(organization=org, now=org.current_period_start)
    assert org.seats_purchased == stripe_quantity(org)
    assert summary.used <= org.seats_purchased
    assert summary.used <= summary.at_renewal
    assert PendingChange.objects.filter(organization=org, status="pending").count() <= 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(8, 12, id="two-increases"),
        pytest.param(9, 4, id="increase-and-decrease"),
        pytest.param(3, 4, id="two-decreases", marks=pytest.mark.slow),
        pytest.param(7, 7, id="same-increase-twice", marks=pytest.mark.slow),
    ],
)
def test_two_billing_managers_changing_seats_at_once_stay_consistent(
    two_managers, stripe_world, tally, first, second
):
    org, (alice, bob) = two_managers
    stripe_world.control.clear_requests()
    jobs = [
        lambda: billing.seats_change(
            organization=Organization.objects.get(pk=org.pk), actor=alice, seats=first
        ),
        lambda: billing.seats_change(
            organization=Organization.objects.get(pk=org.pk), actor=bob, seats=second
        ),
    ]

    outcomes = run_together(jobs, tally=tally, refusals=(billing.BillingRefused,))

    assert set(outcomes) <= {"ok", "refused"}, outcomes
    assert outcomes["ok"] >= 1
    stripe_world.deliver()
    assert_billing_consistent(org)
    # Each accepted increase reached Stripe once; a repeated target is one change.
    quantities = [
        int(r["params"]["items"]["0"]["quantity"])
        for r in stripe_world.control.requests(method="POST", path="/v1/subscriptions/")
        if r["status"] == 200 and not r["replayed"] and "items" in r["params"]
    ]
    increases = {n for n in (first, second) if n > 5}
    assert len(quantities) == len(set(quantities)) <= len(increases)
    assert stripe_quantity(org) == max([5, *quantities])
