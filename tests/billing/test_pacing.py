"""The fleet-wide pace for Stripe requests (billing/pacing.py), on the real Redis and
the emulator's per-second budget.

The booking tests check the order of slots, not speed: each slot is a whole interval
after the previous one, so the margins are tenths of a second either way.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import stripe
from django.conf import settings

from billing.pacing import PacedRequestsClient, StripePacer


@pytest.fixture
def pacer_for():
    def make(*, per_second: float, burst: int = 0, url: str | None = None) -> StripePacer:
        return StripePacer(
            url=url or settings.REDIS_URL,
            per_second=per_second,
            burst=burst,
            key=f"test-stripe-pace-{uuid.uuid4().hex}",
        )

    return make


def test_requests_below_the_burst_go_at_once_and_the_rest_wait_their_turn(pacer_for):
    pacer = pacer_for(per_second=1, burst=2)

    waits = [pacer.book() for _ in range(6)]

    assert waits[:3] == [0, 0, 0]
    for expected, wait in zip((1, 2, 3), waits[3:], strict=True):
        assert expected - 0.3 < wait <= expected


def test_threads_sharing_the_pace_each_get_a_slot_of_their_own(pacer_for):
    pacer = pacer_for(per_second=1)

    with ThreadPoolExecutor(max_workers=4) as pool:
        waits = list(pool.map(lambda _: pacer.book(), range(12)))

    assert sorted(round(w) for w in waits) == list(range(12))


def test_without_redis_requests_go_unpaced_and_say_so(pacer_for, caplog):
    pacer = pacer_for(per_second=1, url="redis://127.0.0.1:1/0")

    assert [pacer.book() for _ in range(3)] == [0, 0, 0]
    assert "unpaced" in caplog.text
    # One timeout and one warning per spell, not one per Stripe request.
    assert caplog.text.count("unpaced") == 1


@pytest.fixture
def paced_stripe():
    """Install a paced client as stripe-python's, as ``pacing.install`` does."""
    saved = stripe.default_http_client

    def install(pacer: StripePacer) -> None:
        stripe.default_http_client = PacedRequestsClient(pacer=pacer)

    yield install
    stripe.default_http_client = saved


def _burst(count: int) -> list[int]:
    """``count`` reads from 3 threads at once; the HTTP status of each."""

    def read(_):
        try:
            stripe.Customer.list(limit=1)
        except stripe.RateLimitError as exc:
            return exc.http_status
        return 200

    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(read, range(count)))


def test_a_paced_fleet_stays_inside_stripes_budget(stripe_emulator, paced_stripe, pacer_for):
    stripe_emulator.control.set_rate_limit(5)
    assert 429 in _burst(12)  # the budget bites when nothing paces the requests

    stripe_emulator.control.set_rate_limit(5)  # a fresh budget
    stripe_emulator.control.clear_requests()
    paced_stripe(pacer_for(per_second=4))

    assert _burst(12) == [200] * 12
    assert [e["status"] for e in stripe_emulator.control.requests()] == [200] * 12
