"""Webhook chaos: a few organizations live through seat increases, cancellations and
renewals while their webhooks pile up undelivered. Then every event is delivered in a
shuffled order, each up to three times, and one in ten is first answered 500 by the app
(the emulator fails the Stripe call the app makes while processing it, so the failure
is the app's own; tasks run inline in the tests, so it reaches the request). Stripe
would retry those; the test redelivers them later.

The result must equal in-order processing. Our receivers re-read Stripe rather than
trust the payload, so in-order processing ends in Stripe's current state: the test
compares the app after the chaos with the app after a fresh sync of every organization,
and checks that each event is stored once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.test import Client
from djstripe.models import Event, WebhookEndpoint

from billing import services
from organizations.models import Organization
from organizations.services import organization_create
from tests.billing.conftest import JAN_15
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

MIRROR = (
    "seats_purchased",
    "seats_at_renewal",
    "subscription_status",
    "plan_tier",
    "billing_cycle",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "stripe_subscription_id",
)


def live_through_a_few_months(stripe_world, *, organizations: int, renewals: int) -> list:
    """Subscribed orgs whose later webhooks wait in the outbox, undelivered."""
    orgs = []
    for n in range(organizations):
        owner = UserFactory()
        org = organization_create(name=f"Chaos {n}", creator=owner)
        org = stripe_world.subscribe(org, owner, seats=3, start=JAN_15 + timedelta(days=n))
        orgs.append((org, owner))
    for org, owner in orgs:
        for month in range(renewals):
            org.refresh_from_db()
            services.seats_change(organization=org, actor=owner, seats=4 + month)
            services.subscription_cancel(organization=org, actor=owner)
            services.subscription_uncancel(organization=org, actor=owner)
            # Stripe renews; its events wait in the outbox like all the others.
            stripe_world.advance_quietly(org, org.current_period_end + timedelta(minutes=5))
            services.subscription_sync(organization=org)
    return [org for org, _owner in orgs]


def rereads_its_object(delivery: dict) -> bool:
    event = json.loads(delivery["body"])
    return (
        bool((event["data"].get("object") or {}).get("id"))
        and not event["type"].endswith(".deleted")
        and event["type"] != "invoice.upcoming"
    )


def sign(body: str, secret: str) -> str:
    at = int(time.time())
    digest = hmac.new(secret.encode(), f"{at}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def mirror(orgs) -> dict:
    return {
        row["pk"]: row
        for row in Organization.objects.filter(pk__in=[o.pk for o in orgs]).values("pk", *MIRROR)
    }


def chaos(stripe_world, orgs, *, tally, seed: int) -> None:
    rng = random.Random(seed)
    deliveries = stripe_world.control.webhook_outbox(drain=True)
    secret = WebhookEndpoint.objects.get().secret
    plan = [d for d in deliveries for _ in range(rng.randint(1, 3))]
    rng.shuffle(plan)
    # The endpoint records the delivery, then its processing (inline in the tests, a
    # worker's task in production) re-reads the event's object from Stripe: a failing
    # Stripe rolls the processing back and leaves the inbox row failed, and the request
    # answers 500; Stripe's retry finds the row failed and processes it. (Events without
    # an object to re-read are not chosen: their 500 would come from a later task.)
    candidates = [d["event_id"] for d in deliveries if rereads_its_object(d)]
    fail_first = set(rng.sample(candidates, k=len(deliveries) // 10))
    client = Client(raise_request_exception=False)
    seen, retry_later, answered_500 = set(), [], 0

    def post(delivery):
        return client.post(
            urlparse(delivery["url"]).path,
            data=delivery["body"],
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=sign(delivery["body"], secret),  # Stripe signs each try
        )

    for delivery in plan:
        first = delivery["event_id"] not in seen
        seen.add(delivery["event_id"])
        if first and delivery["event_id"] in fail_first:
            # Every Stripe call the app makes while processing this one fails.
            stripe_world.control.set_faults(fail_next=100, status=500)
            response = post(delivery)
            stripe_world.control.clear_faults()
            tally.add("faults injected")
            assert response.status_code == 500, delivery["event_type"]
            assert not Event.objects.filter(id=delivery["event_id"]).exists(), "rolled back"
            answered_500 += 1
            retry_later.append(delivery)
            continue
        response = post(delivery)
        tally.add("webhook deliveries (chaos)")
        assert response.status_code == 200, (delivery["event_type"], response.status_code)
    for delivery in retry_later:  # Stripe's retries, after the shuffle
        assert post(delivery).status_code == 200
        tally.add("webhook deliveries (chaos)")
    tally.add("webhook deliveries (chaos)", answered_500)
    assert answered_500 == len(fail_first) >= 1
    assert Event.objects.filter(id__in=seen).count() == len(seen)
    return len(deliveries)


def run(stripe_world, tally, *, organizations: int, renewals: int, seed: int) -> int:
    orgs = live_through_a_few_months(stripe_world, organizations=organizations, renewals=renewals)
    events = chaos(stripe_world, orgs, tally=tally, seed=seed)
    after_chaos = mirror(orgs)
    for org in orgs:  # what in-order processing ends with: Stripe's current state
        services.subscription_sync(organization=Organization.objects.get(pk=org.pk))
    assert after_chaos == mirror(orgs)
    for org in orgs:
        assert after_chaos[org.pk]["seats_purchased"] == 3 + renewals
        assert after_chaos[org.pk]["cancel_at_period_end"] is False
    return events


@pytest.fixture
def quiet_world(stripe_world):
    """The billing driver plus a clock move that leaves the webhooks in the outbox."""
    import stripe

    from billing.stripe_data import to_timestamp

    def advance_quietly(org, to):
        stripe.test_helpers.TestClock.advance(
            stripe_world.clock_id(org), frozen_time=to_timestamp(to)
        )

    stripe_world.advance_quietly = advance_quietly
    return stripe_world


def test_shuffled_duplicated_and_failed_webhooks_end_as_in_order(quiet_world, tally):
    events = run(quiet_world, tally, organizations=3, renewals=3, seed=7)
    assert events >= 60


@pytest.mark.slow
@pytest.mark.timeout(1500)  # ~1,100 events over 24 orgs: minutes, not seconds
def test_a_thousand_chaotic_webhooks_end_as_in_order(quiet_world, tally):
    events = run(quiet_world, tally, organizations=24, renewals=6, seed=1000)
    assert events >= 1000


def test_cancel_undo_cancel_within_a_second_all_reach_stripe(quiet_world, org, owner):
    """Found by the chaos run: the cancel key had whole seconds, so the third request
    replayed the first's answer and Stripe kept the subscription uncancelled."""
    import stripe

    org = quiet_world.subscribe(org, owner, seats=3)
    for cancel in (True, False, True):
        org = (services.subscription_cancel if cancel else services.subscription_uncancel)(
            organization=org, actor=owner
        )
    assert stripe.Subscription.retrieve(org.stripe_subscription_id)["cancel_at_period_end"]
    assert org.cancel_at_period_end is True
