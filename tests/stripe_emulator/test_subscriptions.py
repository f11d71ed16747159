"""Subscriptions, items, invoices and create_preview: statuses, exact proration cents and
payment behaviours. Time is the January test clock (period Jan 1 → Feb 1 = 2678400 s)."""

from __future__ import annotations

import pytest
import stripe

from tests.stripe_emulator.conftest import FEB_1, JAN_1, customer_with_card

PERIOD = FEB_1 - JAN_1


def subscribe(customer, price, quantity=3, **extra) -> stripe.Subscription:
    return stripe.Subscription.create(
        customer=customer.id, items=[{"price": price.id, "quantity": quantity}], **extra
    )


def advance(clock, to: int) -> None:
    stripe.test_helpers.TestClock.advance(clock.id, frozen_time=to)


def test_create_bills_the_first_period_and_puts_periods_on_items(emu, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly, expand=["latest_invoice"])
    assert sub.status == "active"
    item = sub["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (JAN_1, FEB_1)
    assert (item.quantity, item.price.id) == (3, teams_monthly.id)
    invoice = sub.latest_invoice
    assert (invoice.status, invoice.amount_due, invoice.amount_paid) == ("paid", 5400, 5400)
    assert invoice.billing_reason == "subscription_create"
    assert invoice.parent.subscription_details.subscription == sub.id
    line = invoice.lines.data[0]
    assert (line.amount, line.quantity, line.period.start, line.period.end) == (
        5400,
        3,
        JAN_1,
        FEB_1,
    )
    assert line.pricing.price_details.price == teams_monthly.id


def test_create_with_trial_is_trialing_with_a_zero_invoice(emu, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly, trial_period_days=14, expand=["latest_invoice"])
    assert sub.status == "trialing"
    assert (sub.trial_start, sub.trial_end) == (JAN_1, JAN_1 + 14 * 86400)
    assert sub["items"].data[0].current_period_end == JAN_1 + 14 * 86400
    assert (sub.latest_invoice.amount_due, sub.latest_invoice.status) == (0, "paid")


def test_create_with_declining_card_is_incomplete_with_open_invoice(emu, clock, teams_monthly):
    cust = customer_with_card(card="pm_card_chargeCustomerFail", clock_id=clock.id)
    sub = subscribe(cust, teams_monthly, expand=["latest_invoice"])
    assert sub.status == "incomplete"
    assert (sub.latest_invoice.status, sub.latest_invoice.attempt_count) == ("open", 1)


def test_error_if_incomplete_raises_card_error_and_creates_nothing(emu, clock, teams_monthly):
    cust = customer_with_card(card="pm_card_chargeCustomerFail", clock_id=clock.id)
    with pytest.raises(stripe.CardError) as caught:
        subscribe(cust, teams_monthly, payment_behavior="error_if_incomplete")
    assert caught.value.code == "card_declined"
    assert stripe.Subscription.list(customer=cust.id, status="all").data == []


def test_non_recurring_price_is_refused(emu, customer):
    one_time = stripe.Price.create(currency="usd", unit_amount=500, product_data={"name": "X"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        subscribe(customer, one_time)
    assert caught.value.param == "items[0][price]"


def test_negative_quantity_is_refused(emu, customer, teams_monthly):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        subscribe(customer, teams_monthly, quantity=-1)
    assert caught.value.param == "items[0][quantity]"


def _raise_seats(sub, quantity, **extra):
    return stripe.Subscription.modify(
        sub.id,
        items=[{"id": sub["items"].data[0].id, "quantity": quantity}],
        expand=["latest_invoice"],
        **extra,
    )


def test_seat_increase_halfway_prorates_exact_cents(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly, quantity=3)
    advance(clock, JAN_1 + PERIOD // 2)
    updated = _raise_seats(sub, 5, proration_behavior="always_invoice")
    invoice = updated.latest_invoice
    amounts = sorted(line.amount for line in invoice.lines.data)
    assert amounts == [-2700, 4500]
    assert (invoice.total, invoice.amount_paid, invoice.status) == (1800, 1800, "paid")
    assert invoice.billing_reason == "subscription_update"
    descriptions = sorted(line.description for line in invoice.lines.data)
    assert descriptions[0].startswith("Remaining time on 5")
    assert descriptions[1].startswith("Unused time on 3")
    for line in invoice.lines.data:
        details = line.parent.subscription_item_details
        assert details.proration is True
        assert details.subscription_item == updated["items"].data[0].id
        assert details.invoice_item.startswith("ii_")
    assert updated["items"].data[0].quantity == 5


def test_seat_increase_with_a_third_of_the_period_used(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly, quantity=3)
    advance(clock, JAN_1 + PERIOD // 3)
    invoice = _raise_seats(sub, 5, proration_behavior="always_invoice").latest_invoice
    # Two thirds remain: 3 seats credit 3600, 5 seats debit 6000.
    assert sorted(line.amount for line in invoice.lines.data) == [-3600, 6000]
    assert invoice.amount_due == 2400


def test_create_prorations_waits_for_the_renewal_invoice(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly, quantity=3)
    advance(clock, JAN_1 + PERIOD // 2)
    updated = _raise_seats(sub, 5)
    assert updated.latest_invoice.billing_reason == "subscription_create"
    pending = stripe.InvoiceItem.list(customer=customer.id, pending=True).data
    assert sorted(i.amount for i in pending) == [-2700, 4500]
    advance(clock, FEB_1 + 3600)
    renewal = stripe.Subscription.retrieve(sub.id, expand=["latest_invoice"]).latest_invoice
    assert renewal.billing_reason == "subscription_cycle"
    assert renewal.total == 5 * 1800 + 1800
    assert stripe.InvoiceItem.list(customer=customer.id, pending=True).data == []


def test_proration_none_changes_quantity_without_invoice(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly, quantity=3)
    advance(clock, JAN_1 + PERIOD // 2)
    updated = _raise_seats(sub, 2, proration_behavior="none")
    assert updated["items"].data[0].quantity == 2
    assert stripe.InvoiceItem.list(customer=customer.id, pending=True).data == []
    assert len(stripe.Invoice.list(customer=customer.id).data) == 1


def test_pending_if_incomplete_keeps_the_subscription_unchanged(emu, clock, teams_monthly):
    cust = customer_with_card(clock_id=clock.id)
    sub = subscribe(cust, teams_monthly, quantity=3)
    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=cust.id)
    stripe.Customer.modify(cust.id, invoice_settings={"default_payment_method": failing.id})
    advance(clock, JAN_1 + PERIOD // 2)
    updated = _raise_seats(
        sub, 5, proration_behavior="always_invoice", payment_behavior="pending_if_incomplete"
    )
    assert updated.status == "active"
    assert updated["items"].data[0].quantity == 3
    assert updated.pending_update.subscription_items[0].quantity == 5
    assert updated.latest_invoice.status == "open"
    # Paying the invoice with a good card applies the pending update.
    good = stripe.PaymentMethod.attach("pm_card_visa", customer=cust.id)
    stripe.Invoice.pay(updated.latest_invoice.id, payment_method=good.id)
    after = stripe.Subscription.retrieve(sub.id)
    assert after.pending_update is None
    assert after["items"].data[0].quantity == 5


def test_allow_incomplete_applies_the_change_and_goes_past_due(emu, clock, teams_monthly):
    cust = customer_with_card(clock_id=clock.id)
    sub = subscribe(cust, teams_monthly, quantity=3)
    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=cust.id)
    stripe.Customer.modify(cust.id, invoice_settings={"default_payment_method": failing.id})
    updated = _raise_seats(sub, 5, proration_behavior="always_invoice")
    assert updated.status == "past_due"
    assert updated["items"].data[0].quantity == 5
    assert updated.latest_invoice.status == "open"


def test_error_if_incomplete_update_is_refused_without_change(emu, clock, teams_monthly):
    cust = customer_with_card(clock_id=clock.id)
    sub = subscribe(cust, teams_monthly, quantity=3)
    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=cust.id)
    stripe.Customer.modify(cust.id, invoice_settings={"default_payment_method": failing.id})
    with pytest.raises(stripe.CardError):
        _raise_seats(
            sub, 5, proration_behavior="always_invoice", payment_behavior="error_if_incomplete"
        )
    after = stripe.Subscription.retrieve(sub.id)
    assert (after.status, after["items"].data[0].quantity) == ("active", 3)
    assert len(stripe.Invoice.list(subscription=sub.id).data) == 1


def test_invoice_pay_after_decline_returns_card_error(emu, clock, teams_monthly):
    cust = customer_with_card(card="pm_card_chargeCustomerFail", clock_id=clock.id)
    sub = subscribe(cust, teams_monthly)
    with pytest.raises(stripe.CardError):
        stripe.Invoice.pay(sub.latest_invoice)
    assert stripe.Invoice.retrieve(sub.latest_invoice).attempt_count == 2
    good = stripe.PaymentMethod.attach("pm_card_visa", customer=cust.id)
    paid = stripe.Invoice.pay(sub.latest_invoice, payment_method=good.id)
    assert paid.status == "paid"
    assert stripe.Subscription.retrieve(sub.id).status == "active"


def test_invoice_void_and_double_pay_are_guarded(emu, clock, teams_monthly):
    cust = customer_with_card(card="pm_card_chargeCustomerFail", clock_id=clock.id)
    sub = subscribe(cust, teams_monthly)
    voided = stripe.Invoice.void_invoice(sub.latest_invoice)
    assert voided.status == "void"
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Invoice.pay(sub.latest_invoice)
    paid_sub = subscribe(customer_with_card(clock_id=clock.id), teams_monthly)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Invoice.pay(paid_sub.latest_invoice)
    assert caught.value.code == "invoice_already_paid"


def test_create_preview_shows_the_charge_without_changing_anything(
    emu, clock, customer, teams_monthly
):
    sub = subscribe(customer, teams_monthly, quantity=3)
    advance(clock, JAN_1 + PERIOD // 2)
    preview = stripe.Invoice.create_preview(
        customer=customer.id,
        subscription=sub.id,
        subscription_details={
            "items": [{"id": sub["items"].data[0].id, "quantity": 5}],
            "proration_behavior": "always_invoice",
            "proration_date": JAN_1 + PERIOD // 2,
        },
    )
    assert preview.id.startswith("upcoming_in_")
    assert preview.amount_due == 1800
    assert sorted(line.amount for line in preview.lines.data) == [-2700, 4500]
    assert stripe.Subscription.retrieve(sub.id)["items"].data[0].quantity == 3
    assert stripe.InvoiceItem.list(customer=customer.id).data == []


def test_create_preview_of_next_renewal(emu, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly, quantity=3)
    preview = stripe.Invoice.create_preview(subscription=sub.id)
    assert preview.amount_due == 5400
    assert preview.lines.data[0].period.start == FEB_1


def test_cancel_at_period_end_and_cancel_now(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly)
    flagged = stripe.Subscription.modify(sub.id, cancel_at_period_end=True)
    assert (flagged.cancel_at_period_end, flagged.cancel_at, flagged.status) == (
        True,
        FEB_1,
        "active",
    )
    other = subscribe(customer, teams_monthly)
    canceled = stripe.Subscription.cancel(other.id)
    assert (canceled.status, canceled.ended_at) == ("canceled", JAN_1)
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Subscription.cancel(other.id)
    assert [s.id for s in stripe.Subscription.list(customer=customer.id).data] == [sub.id]


def test_subscription_item_endpoints(emu, clock, customer, teams_monthly):
    addon_product = stripe.Product.create(name="Audit log")
    addon = stripe.Price.create(
        product=addon_product.id,
        currency="usd",
        unit_amount=500,
        recurring={"interval": "month"},
    )
    sub = subscribe(customer, teams_monthly, quantity=3)
    item = stripe.SubscriptionItem.create(
        subscription=sub.id, price=addon.id, quantity=1, proration_behavior="none"
    )
    assert item.subscription == sub.id
    listed = stripe.SubscriptionItem.list(subscription=sub.id)
    assert {i.price.id for i in listed.data} == {teams_monthly.id, addon.id}
    modified = stripe.SubscriptionItem.modify(item.id, quantity=2, proration_behavior="none")
    assert modified.quantity == 2
    stripe.SubscriptionItem.delete(item.id, proration_behavior="none")
    assert [i.price.id for i in stripe.SubscriptionItem.list(subscription=sub.id).data] == [
        teams_monthly.id
    ]


def test_mixed_intervals_are_refused(emu, customer, teams_monthly, teams_annual):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Subscription.create(
            customer=customer.id,
            items=[{"price": teams_monthly.id}, {"price": teams_annual.id}],
        )
    assert caught.value.param == "items"


def test_invoice_lines_list_and_status_guards(emu, clock, teams_monthly):
    cust = customer_with_card(card="pm_card_chargeCustomerFail", clock_id=clock.id)
    sub = subscribe(cust, teams_monthly, quantity=2)
    lines = stripe.Invoice.list_lines(sub.latest_invoice)
    assert [(line.amount, line.quantity) for line in lines.data] == [(3600, 2)]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Invoice.finalize_invoice(sub.latest_invoice)
    assert caught.value.code == "invoice_not_editable"
    marked = stripe.Invoice.mark_uncollectible(sub.latest_invoice)
    assert (marked.status, marked.status_transitions.marked_uncollectible_at) == (
        "uncollectible",
        JAN_1,
    )
    assert [i.id for i in stripe.Invoice.list(customer=cust.id, status="uncollectible")] == [
        sub.latest_invoice
    ]


def test_cancel_at_inside_the_period_cancels_there(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly)
    halfway = JAN_1 + PERIOD // 2
    assert stripe.Subscription.modify(sub.id, cancel_at=halfway).cancel_at == halfway
    advance(clock, halfway + 60)
    after = stripe.Subscription.retrieve(sub.id)
    assert (after.status, after.ended_at) == ("canceled", halfway)


def test_clocks_list_and_delete_with_their_customers(emu, clock, customer):
    assert [c.id for c in stripe.test_helpers.TestClock.list().data] == [clock.id]
    assert stripe.test_helpers.TestClock.delete(clock.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        stripe.test_helpers.TestClock.retrieve(clock.id)
    assert stripe.Customer.list().data == []
