"""dj-stripe 2.11 can mirror what the emulator returns: each object syncs through
`sync_from_stripe_data`, which re-retrieves related objects from the emulator."""

from __future__ import annotations

import pytest
import stripe
from djstripe import models as djstripe_models

from tests.stripe_emulator.conftest import FEB_1


@pytest.mark.django_db
def test_objects_round_trip_through_djstripe(emu, clock, customer, teams_monthly):
    sub = stripe.Subscription.create(
        customer=customer.id, items=[{"price": teams_monthly.id, "quantity": 3}]
    )
    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    stripe.SubscriptionSchedule.modify(
        schedule.id,
        phases=[
            {
                "items": [{"price": teams_monthly.id, "quantity": 3}],
                "start_date": schedule.phases[0].start_date,
                "end_date": FEB_1,
            },
            {"items": [{"price": teams_monthly.id, "quantity": 5}]},
        ],
    )

    djstripe_models.Customer.sync_from_stripe_data(stripe.Customer.retrieve(customer.id))
    djstripe_models.Product.sync_from_stripe_data(stripe.Product.retrieve(teams_monthly.product))
    djstripe_models.Price.sync_from_stripe_data(stripe.Price.retrieve(teams_monthly.id))
    djstripe_models.Subscription.sync_from_stripe_data(
        stripe.Subscription.retrieve(sub.id, expand=["latest_invoice", "default_payment_method"])
    )
    djstripe_models.SubscriptionSchedule.sync_from_stripe_data(
        stripe.SubscriptionSchedule.retrieve(schedule.id)
    )
    djstripe_models.Invoice.sync_from_stripe_data(stripe.Invoice.retrieve(sub.latest_invoice))

    mirrored_customer = djstripe_models.Customer.objects.get(id=customer.id)
    assert mirrored_customer.email == customer.email
    mirrored_sub = djstripe_models.Subscription.objects.get(id=sub.id)
    assert mirrored_sub.status == "active"
    assert mirrored_sub.customer == mirrored_customer
    assert mirrored_sub.items.get().quantity == 3
    assert djstripe_models.Price.objects.get(id=teams_monthly.id).unit_amount == 1800
    assert djstripe_models.Product.objects.get(id=teams_monthly.product).name == "Teams"
    mirrored_schedule = djstripe_models.SubscriptionSchedule.objects.get(id=schedule.id)
    assert [p["items"][0]["quantity"] for p in mirrored_schedule.phases] == [3, 5]
    mirrored_invoice = djstripe_models.Invoice.objects.get(id=sub.latest_invoice)
    assert mirrored_invoice.customer == mirrored_customer
    assert (
        mirrored_invoice.stripe_data["amount_paid"],
        mirrored_invoice.stripe_data["status"],
    ) == (
        5400,
        "paid",
    )
    # dahlia keeps the subscription under parent.subscription_details (see DESIGN.md).
    assert mirrored_invoice.stripe_data["parent"]["subscription_details"]["subscription"] == sub.id


def test_every_synced_model_can_be_retrieved_with_djstripe_expand_fields(
    emu, clock, customer, teams_monthly
):
    """dj-stripe re-retrieves objects with its models' `expand_fields` while processing
    webhooks; each of those retrievals must succeed against the emulator."""
    sub = stripe.Subscription.create(
        customer=customer.id, items=[{"price": teams_monthly.id, "quantity": 3}]
    )
    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": teams_monthly.id, "quantity": 2}],
        success_url="http://app.test/ok",
    )
    objects = {
        djstripe_models.Customer: customer.id,
        djstripe_models.Price: teams_monthly.id,
        djstripe_models.Product: teams_monthly.product,
        djstripe_models.Subscription: sub.id,
        djstripe_models.SubscriptionItem: sub["items"].data[0].id,
        djstripe_models.SubscriptionSchedule: schedule.id,
        djstripe_models.Invoice: sub.latest_invoice,
        djstripe_models.PaymentMethod: customer.invoice_settings.default_payment_method,
        djstripe_models.Session: session.id,
    }
    for model, object_id in objects.items():
        fetched = model.stripe_class.retrieve(object_id, expand=model.expand_fields)
        assert fetched.id == object_id
    expanded = stripe.checkout.Session.retrieve(
        session.id, expand=djstripe_models.Session.expand_fields
    )
    assert [(i.price.id, i.quantity) for i in expanded.line_items.data] == [(teams_monthly.id, 2)]
    price = stripe.Price.retrieve(teams_monthly.id, expand=["currency_options"])
    assert price.currency_options["usd"].unit_amount == 1800
