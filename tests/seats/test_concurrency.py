"""Real threads against PostgreSQL: the organization row lock serializes joins and
removals, so seats never oversell and every ledger row states the true count."""

import threading
from collections import Counter

import pytest
from django.db import connection

from organizations.models import Membership
from organizations.services import (
    membership_add_direct,
    membership_remove,
    organization_create,
)
from seats.exceptions import SeatLimitReached
from seats.models import SeatUsageEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(jobs):
    """Start every job at the same instant; return each one's outcome name."""
    barrier = threading.Barrier(len(jobs))
    outcomes = Counter()
    lock = threading.Lock()

    def worker(job):
        try:
            barrier.wait()
            job()
            result = "ok"
        except SeatLimitReached:
            result = "refused"
        except Exception as exc:  # surfaced by the assertion on outcomes
            result = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def assert_ledger_replays_to_reality(org):
    """Each row's count = the running sum of deltas, it moves by exactly one (no gaps,
    no double counting), and the last one equals the memberships that exist."""
    running = 0
    previous = None
    for count, delta in (
        SeatUsageEvent.objects.filter(organization=org).order_by("id").values_list("count", "delta")
    ):
        running += delta
        assert count == running
        if previous is not None:
            assert abs(count - previous) == 1
        previous = count
    assert running == Membership.objects.filter(organization=org).count()


def test_fifty_simultaneous_joins_into_five_free_seats_add_exactly_five(settings):
    settings.SEATWISE_TRIAL_SEATS = 6
    owner = UserFactory()
    org = organization_create(name="Race", creator=owner)  # 1 of 6 used: 5 free
    joiners = [UserFactory() for _ in range(50)]

    outcomes = run_together(
        [
            (lambda user=user: membership_add_direct(organization=org, user=user, actor=owner))
            for user in joiners
        ]
    )

    assert outcomes == Counter({"ok": 5, "refused": 45})
    assert Membership.objects.filter(organization=org).count() == 6
    assert SeatUsageEvent.objects.filter(organization=org).count() == 6
    assert_ledger_replays_to_reality(org)


def test_mixed_simultaneous_joins_and_removals_leave_no_gaps(settings):
    settings.SEATWISE_TRIAL_SEATS = 40
    owner = UserFactory()
    org = organization_create(name="Churn", creator=owner)
    leavers = [UserFactory() for _ in range(15)]
    for user in leavers:
        membership_add_direct(organization=org, user=user, actor=owner)
    memberships = list(Membership.objects.filter(organization=org, user__in=leavers))
    joiners = [UserFactory() for _ in range(25)]

    jobs = [(lambda m=m: membership_remove(membership=m, actor=owner)) for m in memberships] + [
        (lambda user=user: membership_add_direct(organization=org, user=user, actor=owner))
        for user in joiners
    ]
    # 16 members + 25 joins is one over 40 seats: a join is refused only if it sees 24
    # more joins than removals before it, so at most one is, depending on the order.
    outcomes = run_together(jobs)

    assert set(outcomes) <= {"ok", "refused"}, outcomes
    assert outcomes["refused"] <= 1
    assert sum(outcomes.values()) == 40
    joined = Membership.objects.filter(organization=org, user__in=joiners).count()
    assert joined == outcomes["ok"] - 15
    assert Membership.objects.filter(organization=org).count() == 1 + joined
    assert SeatUsageEvent.objects.filter(organization=org).count() == 1 + 15 + 15 + joined
    assert_ledger_replays_to_reality(org)
