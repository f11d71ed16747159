"""Hostile webhooks, generated: what tests/billing/test_webhooks.py proves for one
hand-written body each, proved here for many generated ones.

- Anything not signed with the endpoint's secret (unsigned, another secret, a
  timestamp outside the tolerance in either direction) is a 400 that stores nothing,
  not even an inbox row.
- Signed events of a type we do not handle, or for a customer that is no organization
  of ours, are acknowledged (200, so Stripe stops retrying) and change no organization.
- Bodies that are not an event object at all are refused, never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from djstripe.models import Event, WebhookEndpoint, WebhookEventTrigger
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing.models import WebhookDelivery
from billing.receivers import CHECKOUT_EVENTS, RENEWAL_EVENTS, SYNC_EVENTS
from organizations.models import Organization

# A few dozen generated bodies per property by default; `-m slow` runs the long variant.
EXAMPLES = 25
FUZZ = hsettings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
LONG = hsettings(FUZZ, max_examples=500)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
event_ids = st.from_regex(r"\Aevt_[A-Za-z0-9]{8,24}\Z")
stripe_ids = st.from_regex(r"\A(cus|sub|in|si|sched)_[A-Za-z0-9]{8,20}\Z")


def sign(body: str, secret: str, *, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def event(event_id: str, event_type: str, obj) -> str:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2026-08-26.dahlia",
            "created": int(time.time()),
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
    )


@pytest.fixture
def subscribed(stripe_world, org, owner):
    return stripe_world.subscribe(org, owner, seats=3)


@pytest.fixture
def hook(stripe_world, subscribed):
    endpoint = WebhookEndpoint.objects.get()

    def post(body: str, signature: str | None, content_type: str = "application/json"):
        headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
        with stripe_world.capture(execute=True):
            return stripe_world.client.post(
                f"/stripe/webhook/{endpoint.djstripe_uuid}/",
                data=body,
                content_type=content_type,
                **headers,
            )

    post.secret = endpoint.secret
    return post


def organizations() -> list[dict]:
    return list(Organization.objects.order_by("pk").values())


def stored() -> tuple[int, int, int]:
    return (
        Event.objects.count(),
        WebhookDelivery.objects.count(),
        WebhookEventTrigger.objects.filter(valid=True).count(),
    )


UNVERIFIABLE = {
    "body": st.one_of(json_values.map(json.dumps), st.text(max_size=200)),
    "how": st.sampled_from(["unsigned", "other-secret", "stale", "future", "garbage-header"]),
}


def _unverifiable_is_refused(hook, tally, body: str, how: str) -> None:
    before = (organizations(), stored())
    now = int(time.time())
    signature = {
        "unsigned": None,
        "other-secret": sign(body, "whsec_attacker"),
        "stale": sign(body, hook.secret, at=now - 3600),
        "future": sign(body, hook.secret, at=now + 3600),
        "garbage-header": "v1=" + "0" * 64,
    }[how]

    response = hook(body, signature)

    tally.add("hostile webhooks")
    assert response.status_code == 400, (how, response.status_code)
    assert (organizations(), stored()) == before


@FUZZ
@given(**UNVERIFIABLE)
# Bodies that are JSON but not objects once reached dj-stripe's `"id" in body` as a 500.
@example(body="null", how="unsigned")
@example(body="42", how="other-secret")
def test_unverifiable_bodies_are_400_and_store_nothing(hook, subscribed, tally, body, how):
    _unverifiable_is_refused(hook, tally, body, how)


@pytest.mark.slow
@pytest.mark.timeout(900)
@LONG
@given(**UNVERIFIABLE)
def test_unverifiable_bodies_long(hook, subscribed, tally, body, how):
    _unverifiable_is_refused(hook, tally, body, how)


HANDLED = set(SYNC_EVENTS + RENEWAL_EVENTS + CHECKOUT_EVENTS)


@FUZZ
@given(
    event_id=event_ids,
    event_type=st.from_regex(r"\A[a-z_]{3,12}\.[a-z_.]{3,20}\Z").filter(lambda t: t not in HANDLED),
    obj=st.dictionaries(
        st.sampled_from(["id", "object", "customer", "status"]),
        st.text(st.characters(blacklist_characters="\x00"), max_size=12),
    ),
)
def test_signed_events_of_unknown_types_are_acknowledged_and_change_nothing(
    hook, subscribed, tally, event_id, event_type, obj
):
    before = organizations()
    body = event(event_id, event_type, obj)

    response = hook(body, sign(body, hook.secret))

    tally.add("hostile webhooks")
    assert response.status_code == 200, response.content
    assert organizations() == before


@FUZZ
@given(
    event_id=event_ids,
    event_type=st.sampled_from(sorted(SYNC_EVENTS + RENEWAL_EVENTS)),
    customer=stripe_ids.map(lambda s: "cus_" + s.split("_", 1)[1]),
    object_id=stripe_ids,
)
def test_signed_events_for_an_unknown_customer_never_500_and_change_no_org(
    hook, subscribed, tally, event_id, event_type, customer, object_id
):
    before = organizations()
    kind = event_type.split(".")[0].replace("customer", "subscription")
    body = event(event_id, event_type, {"id": object_id, "object": kind, "customer": customer})

    response = hook(body, sign(body, hook.secret))

    tally.add("hostile webhooks")
    # Acknowledged, or refused as unprocessable; Stripe must not be told "try again".
    assert response.status_code in (200, 400), (event_type, response.status_code)
    assert organizations() == before


@pytest.mark.parametrize(
    "body",
    ["[]", "null", "42", '"evt_1"', "{}", '{"id": "evt_no_type"}', "", "\x00\xff"],
    ids=["list", "null", "number", "string", "empty-object", "no-type", "empty", "binary"],
)
def test_signed_bodies_that_are_not_events_are_refused_without_a_500(hook, subscribed, tally, body):
    before = (organizations(), Event.objects.count())
    response = hook(body, sign(body, hook.secret))
    tally.add("hostile webhooks")
    assert 400 <= response.status_code < 500, response.status_code
    assert (organizations(), Event.objects.count()) == before


@pytest.mark.parametrize("where", ["value", "key", "nested"])
def test_a_signed_event_carrying_a_nul_character_is_refused_without_a_500(
    hook, subscribed, tally, where
):
    """Found by the fuzzing above: PostgreSQL's jsonb cannot store U+0000."""
    obj = {
        "value": {"id": "x_1", "object": "thing\x00"},
        "key": {"id": "x_1", "a\x00b": 1},
        "nested": {"id": "x_1", "items": [{"name": ["\x00"]}]},
    }[where]
    body = event("evt_nul_" + where, "seatwise.unknown_kind", obj)
    before = (organizations(), stored())
    response = hook(body, sign(body, hook.secret))
    tally.add("hostile webhooks")
    assert response.status_code == 400
    assert (organizations(), stored()) == before


def test_a_webhook_for_an_unknown_endpoint_is_refused(stripe_world, subscribed, tally):
    body = event("evt_nowhere", "customer.subscription.deleted", {"id": "sub_x"})
    before = organizations()
    response = stripe_world.client.post(
        "/stripe/webhook/00000000-0000-4000-8000-000000000000/",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body, "whsec_guess"),
    )
    tally.add("hostile webhooks")
    assert 400 <= response.status_code < 500
    assert organizations() == before


def test_a_replayed_genuine_delivery_is_processed_once(stripe_world, org, owner, tally):
    """The same signed delivery posted again (a replay attack, or Stripe retrying) is
    acknowledged and stored once."""
    import stripe

    org = stripe_world.subscribe(org, owner, seats=3)
    stripe.Subscription.modify(org.stripe_subscription_id, cancel_at_period_end=True)
    deliveries = stripe_world.control.webhook_outbox(drain=True)
    assert deliveries
    for delivery in deliveries:
        assert stripe_world.post_webhook(delivery).status_code == 200
    once = (organizations(), Event.objects.count())
    for delivery in deliveries * 3:
        assert stripe_world.post_webhook(delivery).status_code == 200
        tally.add("hostile webhooks")
    assert (organizations(), Event.objects.count()) == once
