"""The webhook endpoint under bad and repeated input: each refusal is a 400 that changes
nothing (not even the inbox), odd but genuine events are ignored without a 500, and
duplicates or reordering never change the outcome. The inbox itself (exactly-once
processing, failures, the worker) is tests/billing/test_webhook_inbox.py."""

import hashlib
import hmac
import json
import time

import pytest
from djstripe.models import Event, WebhookEndpoint

from billing.models import WebhookDelivery
from billing.selectors import subscription_summary


def _sign(body: str, secret: str, *, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


@pytest.fixture
def endpoint(stripe_world):
    return WebhookEndpoint.objects.get()


@pytest.fixture
def subscribed(stripe_world, org, owner):
    return stripe_world.subscribe(org, owner, seats=3)


def _event(event_type: str, obj: dict, event_id: str = "evt_forged_1") -> str:
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


def _post(client, endpoint, body: str, signature: str | None, **headers):
    if signature is not None:
        headers["HTTP_STRIPE_SIGNATURE"] = signature
    return client.post(
        f"/stripe/webhook/{endpoint.djstripe_uuid}/",
        data=body,
        content_type="application/json",
        **headers,
    )


def _state(org):
    org.refresh_from_db()
    return (
        org.seats_purchased,
        org.subscription_status,
        Event.objects.count(),
        WebhookDelivery.objects.count(),
    )


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "t=1,v1=deadbeef",
        "garbage",
    ],
    ids=["unsigned", "wrongly-signed", "malformed-header"],
)
def test_unverifiable_webhooks_are_refused_and_change_nothing(
    client, endpoint, subscribed, signature
):
    before = _state(subscribed)
    body = _event(
        "customer.subscription.deleted",
        {"id": subscribed.stripe_subscription_id, "object": "subscription"},
    )

    response = _post(client, endpoint, body, signature)

    assert response.status_code == 400
    assert _state(subscribed) == before


def test_signature_from_another_secret_is_refused(client, endpoint, subscribed):
    before = _state(subscribed)
    body = _event("customer.subscription.deleted", {"id": subscribed.stripe_subscription_id})
    response = _post(client, endpoint, body, _sign(body, "whsec_not_the_real_one"))
    assert response.status_code == 400
    assert _state(subscribed) == before


def test_signature_outside_the_tolerance_is_refused(client, endpoint, subscribed):
    before = _state(subscribed)
    body = _event("customer.subscription.deleted", {"id": subscribed.stripe_subscription_id})
    stale = int(time.time()) - 3600
    response = _post(client, endpoint, body, _sign(body, endpoint.secret, at=stale))
    assert response.status_code == 400
    assert _state(subscribed) == before


def test_malformed_json_is_refused(client, endpoint, subscribed):
    before = _state(subscribed)
    body = '{"id": "evt_1", "livemode": false, "type": '
    response = _post(client, endpoint, body, _sign(body, endpoint.secret))
    assert response.status_code == 400
    assert _state(subscribed) == before


def test_debug_secret_override_header_is_refused(client, endpoint, subscribed, settings):
    settings.DEBUG = True
    before = _state(subscribed)
    body = _event("customer.subscription.deleted", {"id": subscribed.stripe_subscription_id})
    response = _post(
        client,
        endpoint,
        body,
        _sign(body, "whsec_chosen_by_attacker"),
        HTTP_X_DJSTRIPE_WEBHOOK_SECRET="whsec_chosen_by_attacker",
    )
    assert response.status_code == 400
    assert _state(subscribed) == before


def test_unknown_event_type_is_accepted_and_ignored(client, endpoint, subscribed):
    before_org = _state(subscribed)[:2]
    body = _event("seatwise.unknown_kind", {"id": "x_1", "object": "thing"}, "evt_unknown")
    response = _post(client, endpoint, body, _sign(body, endpoint.secret))
    assert response.status_code == 200
    assert _state(subscribed)[:2] == before_org


def test_event_for_a_customer_of_no_organization_is_ignored(
    client, endpoint, stripe_world, subscribed, caplog
):
    import stripe

    stranger = stripe.Customer.create(email="stranger@example.test")
    before = _state(subscribed)[:2]
    body = _event("customer.updated", stranger.to_dict(for_json=True), "evt_stranger")

    with stripe_world.capture(execute=True):
        response = _post(client, endpoint, body, _sign(body, endpoint.secret))

    assert response.status_code == 200
    assert _state(subscribed)[:2] == before


def test_event_naming_an_object_stripe_does_not_have_is_ignored_without_a_500(
    client, endpoint, stripe_world, subscribed
):
    before = _state(subscribed)[:2]
    body = _event(
        "customer.subscription.updated",
        {"id": "sub_never_existed", "object": "subscription", "customer": "cus_never_existed"},
        "evt_ghost",
    )
    with stripe_world.capture(execute=True):
        response = _post(client, endpoint, body, _sign(body, endpoint.secret))
    assert response.status_code == 200
    assert _state(subscribed)[:2] == before


def test_duplicate_and_reordered_deliveries_end_in_stripes_current_state(stripe_world, org, owner):
    from billing import services

    stripe_world.control.set_webhook_mode("outbox")
    org = stripe_world.subscribe(org, owner, seats=3)
    services.billing_customer_ensure(organization=org)
    # Two changes whose webhooks we hold back, then deliver newest first, twice.
    stripe_world.control.webhook_outbox(drain=True)
    import stripe

    stripe.Subscription.modify(org.stripe_subscription_id, cancel_at_period_end=True)
    stripe.Subscription.modify(org.stripe_subscription_id, cancel_at_period_end=False)
    deliveries = stripe_world.control.webhook_outbox(drain=True)
    assert deliveries
    events_before = Event.objects.count()

    for delivery in list(reversed(deliveries)) + deliveries:
        response = stripe_world.post_webhook(delivery)
        assert response.status_code == 200

    org.refresh_from_db()
    assert org.cancel_at_period_end is False
    assert subscription_summary(organization=org).status == "active"
    assert Event.objects.count() == events_before + len({d["event_id"] for d in deliveries})
