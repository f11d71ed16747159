"""The tasks' retry policy: a 429 is retried after about a second (Stripe's budget is
per second), other transient errors back off exponentially, and a task that runs out
of retries leaves its pending change pending for the next run of the job."""

from __future__ import annotations

from datetime import timedelta

import pytest
import stripe
from celery.exceptions import Retry

from billing import gateway, services, tasks
from billing.gateway import StripeRateLimited, StripeTransient
from billing.models import PendingChange
from organizations.services import organization_create
from tests.factories import UserFactory
from tests.worker import celery_worker, wait_until


@pytest.fixture
def decrease(stripe_world, org, owner, member):
    """Acme on Teams monthly with 5 seats, 2 used, and a pending decrease to 3."""
    org = stripe_world.subscribe(org, owner, seats=5)
    change = services.seats_change(organization=org, actor=owner, seats=3)
    return org, change


def attempt(change: PendingChange, *, retries: int = 0) -> Retry | str:
    """One run of the renewal task as a worker makes it, ``retries`` retries in."""
    try:
        return tasks.pending_change_apply.apply(
            args=[change.pk, "schedule"], retries=retries, throw=True
        ).get()
    except Retry as retry:
        return retry


def test_the_emulators_rate_limit_is_a_rate_limited_transient_error(stripe_world, decrease):
    _org, change = decrease
    stripe_world.control.set_rate_limit(1)
    with pytest.raises(StripeRateLimited) as caught:
        for _ in range(50):  # a budget of one request per second runs out at once
            gateway.subscription_retrieve(change.stripe_subscription_id)
    assert isinstance(caught.value, StripeTransient)
    assert (caught.value.status, caught.value.retry_after) == (429, None)


def test_a_429_is_retried_after_about_a_second_not_exponentially(stripe_world, decrease):
    _org, change = decrease
    stripe_world.control.set_faults(
        fail_next=1, status=429, match_path="/v1/subscription_schedules"
    )

    # Six retries in, the exponential backoff would wait up to 2**7 s.
    retry = attempt(change, retries=6)

    assert isinstance(retry, Retry) and isinstance(retry.exc, StripeRateLimited)
    assert tasks.RATE_LIMITED_DELAY <= retry.when <= 1.5 * tasks.RATE_LIMITED_DELAY
    change.refresh_from_db()
    assert (change.scheduled_at, bool(change.last_error)) == (None, True)


def test_other_transient_errors_keep_the_exponential_backoff(stripe_world, decrease):
    _org, change = decrease
    stripe_world.control.set_faults(
        fail_next=1, status=503, match_path="/v1/subscription_schedules"
    )

    retry = attempt(change, retries=6)

    assert isinstance(retry, Retry) and type(retry.exc) is StripeTransient
    assert 0 <= retry.when <= 2**7  # full jitter over the backoff (2 s x 2**retries)


def test_429s_get_more_retries_than_other_transient_errors(stripe_world, decrease):
    _org, change = decrease
    stripe_world.control.set_faults(
        fail_next=1, status=503, match_path="/v1/subscription_schedules"
    )
    with pytest.raises(StripeTransient):
        attempt(change, retries=tasks.TRANSIENT_MAX_RETRIES)

    stripe_world.control.set_faults(
        fail_next=1, status=429, match_path="/v1/subscription_schedules"
    )
    assert isinstance(attempt(change, retries=tasks.TRANSIENT_MAX_RETRIES), Retry)


def test_a_change_still_throttled_after_its_last_retry_waits_for_the_next_run(
    stripe_world, decrease
):
    org, change = decrease
    stripe_world.control.set_faults(fail_next=1, status=429, match_path="/v1/subscription")

    with pytest.raises(StripeRateLimited):
        attempt(change, retries=tasks.RATE_LIMITED_MAX_RETRIES)

    change.refresh_from_db()
    assert (change.status, change.scheduled_at) == (PendingChange.Status.PENDING, None)
    assert change.last_error, "staff can see the job was throttled"
    before_end = org.current_period_end - timedelta(hours=1)
    assert services.renewal_run(now=before_end) == {"scheduled": 1}


def test_retry_after_and_should_retry_headers_are_honoured():
    def mapped(**headers) -> Exception:
        error = stripe.RateLimitError("Too many requests", http_status=429, headers=headers)
        with pytest.raises(StripeTransient) as caught, gateway.mapped_errors("test"):
            raise error
        return caught.value

    assert mapped(**{"Retry-After": "3"}).retry_after == 3.0
    assert 3.0 <= tasks.rate_limited_countdown(mapped(**{"Retry-After": "3"})) <= 3.5
    assert mapped(**{"Retry-After": "soon"}).retry_after is None
    # Stripe asks not to retry this one soon: it gets the slow backoff, not a second.
    assert type(mapped(**{"Stripe-Should-Retry": "false"})) is StripeTransient


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_workers_under_a_per_second_budget_apply_every_change_once(
    stripe_world, stripe_emulator, tmp_path
):
    changes = []
    for index in range(6):
        owner = UserFactory(email=f"owner{index}@budget.test")
        org = organization_create(name=f"Budget {index}", creator=owner)
        org = stripe_world.subscribe(org, owner, seats=5)
        changes.append(services.seats_change(organization=org, actor=owner, seats=3))
    control = stripe_world.control
    control.clear_requests()
    # Each attempt makes 2 requests back to back, so the budget must hold one attempt;
    # the two threads' first attempts together exceed it at once.
    control.set_rate_limit(3)

    with celery_worker(emulator_url=stripe_emulator.url, log_path=tmp_path / "worker.log"):
        tasks.renewal_run.delay()
        wait_until(
            lambda: (
                not PendingChange.objects.filter(
                    pk__in=[c.pk for c in changes], scheduled_at__isnull=True
                ).exists()
            ),
            what="the worker to schedule every change",
        )
    control.clear_faults()

    log = control.requests(path="/v1/subscription_schedules")
    assert any(entry["status"] == 429 for entry in control.requests())
    applied = [e for e in log if e["method"] == "POST" and e["status"] == 200]
    assert len([e for e in applied if not e["replayed"]]) == 2 * len(changes)
    for change in PendingChange.objects.filter(pk__in=[c.pk for c in changes]):
        assert change.status == PendingChange.Status.PENDING and change.stripe_schedule_id
        writes = [
            e
            for e in applied
            if not e["replayed"]
            and (
                e["params"].get("from_subscription") == change.stripe_subscription_id
                or e["path"].endswith(change.stripe_schedule_id)
            )
        ]
        assert len(writes) == 2, "one schedule created and phased once per change"
