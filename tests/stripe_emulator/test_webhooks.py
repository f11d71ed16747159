"""Webhook delivery: real signatures verified by stripe-python, sync/async/outbox modes,
and retries of non-2xx answers."""

from __future__ import annotations

import json

import pytest
import stripe

from stripe_emulator.control import EmulatorControl
from stripe_emulator.server import EmulatorServer
from stripe_emulator.webhooks import sign
from tests.stripe_emulator.conftest import event_types


def endpoint_for(receiver, events=("*",)) -> stripe.WebhookEndpoint:
    return stripe.WebhookEndpoint.create(url=receiver.url, enabled_events=list(events))


def test_sync_delivery_is_signed_and_verifies_with_construct_event(emu, receiver):
    endpoint = endpoint_for(receiver)
    cust = stripe.Customer.create(email="a@example.test")
    # Sync mode: delivered before the API call returned.
    assert event_types(receiver.received) == ["customer.created"]
    delivery = receiver.received[0]
    event = stripe.Webhook.construct_event(
        delivery["body"], delivery["headers"]["Stripe-Signature"], endpoint.secret
    )
    assert (event.type, event.data.object.id) == ("customer.created", cust.id)
    assert event.api_version == stripe.api_version


def test_signature_with_the_wrong_secret_fails_verification(emu, receiver):
    endpoint_for(receiver)
    stripe.Customer.create(email="a@example.test")
    delivery = receiver.received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            delivery["body"], delivery["headers"]["Stripe-Signature"], "whsec_wrong"
        )


def test_signature_scheme_matches_stripe(emu):
    header = sign(secret="whsec_test", body='{"id": "evt_1"}', timestamp=1700000000)
    assert header.startswith("t=1700000000,v1=")
    assert stripe.WebhookSignature.verify_header(
        '{"id": "evt_1"}', header, "whsec_test", tolerance=None
    )


def test_only_enabled_events_are_delivered(emu, receiver):
    endpoint_for(receiver, events=["customer.updated"])
    cust = stripe.Customer.create(email="a@example.test")
    stripe.Customer.modify(cust.id, name="Acme")
    assert event_types(receiver.received) == ["customer.updated"]


def test_async_delivery_retries_non_2xx_until_success(emu, receiver):
    receiver.fail_first = 2
    endpoint_for(receiver)
    emu.control.set_webhook_mode("async", max_attempts=5, backoff_seconds=0.01)
    stripe.Customer.create(email="a@example.test")
    assert emu.control.wait_for_webhooks(timeout=10) is True
    attempts = emu.control.webhook_attempts()
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    assert event_types(receiver.received) == ["customer.created"] * 3


def test_async_retries_are_bounded(emu, receiver):
    receiver.fail_first = 100
    endpoint_for(receiver)
    emu.control.set_webhook_mode("async", max_attempts=3, backoff_seconds=0.01)
    stripe.Customer.create(email="a@example.test")
    assert emu.control.wait_for_webhooks(timeout=10) is True
    assert [a["ok"] for a in emu.control.webhook_attempts()] == [False, False, False]


def test_outbox_mode_queues_signed_deliveries_for_the_test(emu):
    endpoint = stripe.WebhookEndpoint.create(
        url="http://127.0.0.1:9/never", enabled_events=["customer.created"]
    )
    emu.control.set_webhook_mode("outbox")
    cust = stripe.Customer.create(email="a@example.test")
    pending = emu.control.webhook_outbox()
    assert [d["event_type"] for d in pending] == ["customer.created"]
    event = stripe.Webhook.construct_event(
        pending[0]["body"], pending[0]["headers"]["Stripe-Signature"], endpoint.secret
    )
    assert event.data.object.id == cust.id
    assert emu.control.drain_webhook_outbox()[0]["event_id"] == event.id
    assert emu.control.webhook_outbox() == []


def test_event_payload_carries_previous_attributes(emu, receiver, clock, teams_monthly):
    endpoint_for(receiver, events=["customer.subscription.updated"])
    cust = stripe.Customer.create(
        email="a@example.test",
        payment_method="pm_card_visa",
        invoice_settings={"default_payment_method": "pm_card_visa"},
        test_clock=clock.id,
    )
    sub = stripe.Subscription.create(customer=cust.id, items=[{"price": teams_monthly.id}])
    stripe.Subscription.modify(sub.id, cancel_at_period_end=True)
    payload = json.loads(receiver.received[-1]["body"])
    assert payload["data"]["object"]["cancel_at_period_end"] is True
    assert payload["data"]["previous_attributes"]["cancel_at_period_end"] is False


def test_reset_returns_to_the_servers_starting_mode(receiver):
    server = EmulatorServer(port=0, webhook_mode="outbox").start()
    try:
        control = EmulatorControl(server.url)
        control.set_webhook_mode("sync")
        control.reset()
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": server.url})
        client.v1.webhook_endpoints.create({"url": receiver.url, "enabled_events": ["*"]})
        client.v1.customers.create({"email": "a@example.test"})
        assert [d["event_type"] for d in control.webhook_outbox()] == ["customer.created"]
        assert receiver.received == []
    finally:
        server.stop()
