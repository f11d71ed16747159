"""Conformance: every object type the emulator returns has exactly the field set of the
matching object in Stripe's fixtures3.json (no field missing, none misnamed)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import stripe

from tests.stripe_emulator.conftest import FEB_1

FIXTURES = Path(
    os.environ.get(
        "STRIPE_FIXTURES_PATH",
        Path(__file__).resolve().parents[3] / "shared" / "stripe" / "fixtures3.json",
    )
)

# Fields Stripe returns that its example omits: the signing secret appears only in the
# webhook endpoint create response.
EXTRA_ALLOWED = {"webhook_endpoint": {"secret"}}


@pytest.fixture(scope="module")
def fixtures() -> dict[str, Any]:
    if not FIXTURES.exists():
        pytest.fail(f"Stripe fixtures not found at {FIXTURES}; set STRIPE_FIXTURES_PATH")
    return json.loads(FIXTURES.read_text())["resources"]


def assert_same_fields(kind: str, ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    missing = set(theirs) - set(ours)
    extra = set(ours) - set(theirs) - EXTRA_ALLOWED.get(kind, set())
    assert (kind, sorted(missing), sorted(extra)) == (kind, [], [])


@pytest.fixture
def world(emu, clock, customer, teams_monthly, receiver) -> dict[str, dict[str, Any]]:
    """One of every object, made through the API."""
    endpoint = stripe.WebhookEndpoint.create(url=receiver.url, enabled_events=["*"])
    sub = stripe.Subscription.create(
        customer=customer.id, items=[{"price": teams_monthly.id, "quantity": 3}]
    )
    stripe.test_helpers.TestClock.advance(clock.id, frozen_time=FEB_1 - 86400)
    stripe.Subscription.modify(sub.id, items=[{"id": sub["items"].data[0].id, "quantity": 4}])
    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": teams_monthly.id, "quantity": 1}],
        success_url="http://app.test/ok",
        customer=customer.id,
    )
    sub = stripe.Subscription.retrieve(sub.id)
    invoice = stripe.Invoice.retrieve(sub.latest_invoice)
    return {
        "account": stripe.Account.retrieve(),
        "customer": stripe.Customer.retrieve(customer.id),
        "product": stripe.Product.retrieve(teams_monthly.product),
        "price": stripe.Price.retrieve(teams_monthly.id),
        "payment_method": stripe.PaymentMethod.retrieve(
            customer.invoice_settings.default_payment_method
        ),
        "subscription": sub,
        "subscription_item": stripe.SubscriptionItem.retrieve(sub["items"].data[0].id),
        "subscription_schedule": stripe.SubscriptionSchedule.retrieve(schedule.id),
        "invoice": invoice,
        "line_item": invoice.lines.data[0],
        "invoiceitem": stripe.InvoiceItem.list(customer=customer.id).data[0],
        "test_helpers.test_clock": stripe.test_helpers.TestClock.retrieve(clock.id),
        "event": stripe.Event.list(limit=1).data[0],
        "webhook_endpoint": endpoint,
        "checkout.session": session,
        "billing_portal.session": stripe.billing_portal.Session.create(customer=customer.id),
    }


def test_every_object_has_the_fixture_field_set(world, fixtures):
    differences = {}
    for kind, obj in world.items():
        ours, theirs = obj.to_dict(), fixtures[kind]
        missing = sorted(set(theirs) - set(ours))
        extra = sorted(set(ours) - set(theirs) - EXTRA_ALLOWED.get(kind, set()))
        if missing or extra:
            differences[kind] = {"missing": missing, "extra": extra}
    assert differences == {}


def test_nested_shapes_match_where_seat_billing_reads_them(world, fixtures):
    sub, invoice = world["subscription"].to_dict(), world["invoice"].to_dict()
    assert_same_fields("subscription.items", sub["items"], fixtures["subscription"]["items"])
    assert_same_fields(
        "subscription.items.data",
        sub["items"]["data"][0],
        fixtures["subscription"]["items"]["data"][0],
    )
    assert_same_fields("invoice.lines", invoice["lines"], fixtures["invoice"]["lines"])
    assert_same_fields(
        "invoice.status_transitions",
        invoice["status_transitions"],
        fixtures["invoice"]["status_transitions"],
    )
    assert set(invoice["parent"]) <= set(fixtures["invoice"]["parent"]) | {"subscription_details"}
    assert_same_fields(
        "invoice.parent.subscription_details",
        invoice["parent"]["subscription_details"],
        fixtures["invoice"]["parent"]["subscription_details"],
    )
    line = world["line_item"].to_dict()
    assert_same_fields(
        "line_item.parent.subscription_item_details",
        line["parent"]["subscription_item_details"],
        fixtures["line_item"]["parent"]["subscription_item_details"],
    )
    phase = world["subscription_schedule"].to_dict()["phases"][0]
    fixture_phase = fixtures["subscription_schedule"]["phases"][0]
    assert_same_fields("subscription_schedule.phases", phase, fixture_phase)
    assert_same_fields(
        "subscription_schedule.phases.items", phase["items"][0], fixture_phase["items"][0]
    )
    assert_same_fields(
        "customer.invoice_settings",
        world["customer"].to_dict()["invoice_settings"],
        fixtures["customer"]["invoice_settings"],
    )
    assert_same_fields(
        "payment_method.card",
        world["payment_method"].to_dict()["card"],
        fixtures["payment_method"]["card"],
    )


def test_proration_lines_are_subscription_item_details_with_their_invoice_item(world, fixtures):
    """Stripe: prorations are the lines whose parent.subscription_item_details.proration
    is true; the fixture's field set must hold for them too."""
    preview = stripe.Invoice.create_preview(subscription=world["subscription"].id)
    prorations = [
        line.to_dict()
        for line in preview.lines.data
        if line.parent.subscription_item_details.proration
    ]
    assert sorted(line["amount"] for line in prorations) == sorted(
        i.amount for i in stripe.InvoiceItem.list(pending=True).data
    )
    for line in prorations:
        assert_same_fields(
            "line_item.parent.subscription_item_details",
            line["parent"]["subscription_item_details"],
            fixtures["line_item"]["parent"]["subscription_item_details"],
        )
        assert line["parent"]["subscription_item_details"]["invoice_item"].startswith("ii_")
