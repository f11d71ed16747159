"""Test clocks drive renewals, trial ends, period-end cancellations and schedule phase
changes, each at its boundary and with its invoices and events."""

from __future__ import annotations

import datetime as dt

import pytest
import stripe

from tests.stripe_emulator.conftest import FEB_1, JAN_1, customer_with_card

MAR_1 = int(dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp())
APR_1 = int(dt.datetime(2026, 4, 1, tzinfo=dt.UTC).timestamp())
FEB_1_2027 = int(dt.datetime(2027, 2, 1, tzinfo=dt.UTC).timestamp())
HOUR = 3600


def advance(clock, to: int) -> stripe.test_helpers.TestClock:
    return stripe.test_helpers.TestClock.advance(clock.id, frozen_time=to)


def subscribe(customer, price, quantity=3, **extra) -> stripe.Subscription:
    return stripe.Subscription.create(
        customer=customer.id, items=[{"price": price.id, "quantity": quantity}], **extra
    )


def cycle_invoices(sub_id: str) -> list[stripe.Invoice]:
    invoices = stripe.Invoice.list(subscription=sub_id, limit=100).data
    return [i for i in invoices if i.billing_reason == "subscription_cycle"]


def test_monthly_subscription_renews_three_times(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly, quantity=3)
    ready = advance(clock, APR_1 + HOUR)
    assert (ready.status, ready.frozen_time) == ("ready", APR_1 + HOUR)
    renewals = cycle_invoices(sub.id)
    assert len(renewals) == 3
    assert sum(i.amount_paid for i in renewals) == 3 * 3 * 1800
    # A renewal invoice's own period is the one that just ended; its lines bill the next.
    assert sorted(i.period_end for i in renewals) == [FEB_1, MAR_1, APR_1]
    assert sorted(i.lines.data[0].period.start for i in renewals) == [FEB_1, MAR_1, APR_1]
    assert all(i.status == "paid" for i in renewals)
    item = stripe.Subscription.retrieve(sub.id)["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (
        APR_1,
        int(dt.datetime(2026, 5, 1, tzinfo=dt.UTC).timestamp()),
    )


def test_renewal_emits_invoice_and_subscription_events_in_order(
    emu, clock, customer, teams_monthly
):
    subscribe(customer, teams_monthly)
    newest_before = stripe.Event.list(limit=1).data[0].id
    advance(clock, FEB_1 + HOUR)
    events = stripe.Event.list(ending_before=newest_before, limit=100).data
    types = [e.type for e in reversed(events)]
    assert types == [
        "test_helpers.test_clock.advancing",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
        "test_helpers.test_clock.ready",
    ]


def test_renewal_with_failing_card_goes_past_due(emu, clock, teams_monthly):
    cust = customer_with_card(clock_id=clock.id)
    sub = subscribe(cust, teams_monthly)
    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=cust.id)
    stripe.Customer.modify(cust.id, invoice_settings={"default_payment_method": failing.id})
    advance(clock, FEB_1 + HOUR)
    after = stripe.Subscription.retrieve(sub.id, expand=["latest_invoice"])
    assert after.status == "past_due"
    assert after.latest_invoice.status == "open"
    assert stripe.Event.list(type="invoice.payment_failed").data


def test_subscription_default_payment_method_wins_over_customer_default(emu, clock, teams_monthly):
    cust = customer_with_card(card="pm_card_chargeCustomerFail", clock_id=clock.id)
    good = stripe.PaymentMethod.attach("pm_card_visa", customer=cust.id)
    sub = subscribe(cust, teams_monthly, default_payment_method=good.id)
    assert sub.status == "active"
    advance(clock, FEB_1 + HOUR)
    assert stripe.Subscription.retrieve(sub.id).status == "active"


def test_trial_end_starts_billing(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly, trial_period_days=14)
    trial_end = JAN_1 + 14 * 86400
    advance(clock, trial_end + HOUR)
    after = stripe.Subscription.retrieve(sub.id, expand=["latest_invoice"])
    assert after.status == "active"
    assert after.billing_cycle_anchor == trial_end
    assert after["items"].data[0].current_period_start == trial_end
    assert after.latest_invoice.amount_paid == 5400


def test_cancel_at_period_end_cancels_at_the_boundary(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly)
    stripe.Subscription.modify(sub.id, cancel_at_period_end=True)
    advance(clock, FEB_1 + HOUR)
    after = stripe.Subscription.retrieve(sub.id)
    assert (after.status, after.ended_at) == ("canceled", FEB_1)
    assert cycle_invoices(sub.id) == []
    assert stripe.Event.list(type="customer.subscription.deleted").data[0].data.object.id == sub.id


def test_clock_cannot_go_backwards(emu, clock):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        advance(clock, JAN_1 - 1)
    assert caught.value.param == "frozen_time"
    assert stripe.test_helpers.TestClock.retrieve(clock.id).frozen_time == JAN_1


# ------------------------------------------------------------------------------ schedules


def test_schedule_from_subscription_mirrors_the_current_period(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly, quantity=3)
    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    assert schedule.status == "active"
    assert schedule.end_behavior == "release"
    assert len(schedule.phases) == 1
    phase = schedule.phases[0]
    assert (phase.start_date, phase.end_date) == (JAN_1, FEB_1)
    assert (phase["items"][0].price, phase["items"][0].quantity) == (teams_monthly.id, 3)
    assert stripe.Subscription.retrieve(sub.id).schedule == schedule.id
    with pytest.raises(stripe.InvalidRequestError):
        stripe.SubscriptionSchedule.create(from_subscription=sub.id)


def _next_phase(sub, schedule, *, price, quantity, **phase_extra):
    return stripe.SubscriptionSchedule.modify(
        schedule.id,
        end_behavior=phase_extra.pop("end_behavior", "release"),
        proration_behavior="none",
        phases=[
            {
                "items": [
                    {
                        "price": schedule.phases[0]["items"][0].price,
                        "quantity": schedule.phases[0]["items"][0].quantity,
                    }
                ],
                "start_date": schedule.phases[0].start_date,
                "end_date": schedule.phases[0].end_date,
            },
            {"items": [{"price": price.id, "quantity": quantity}], **phase_extra},
        ],
    )


def test_schedule_switches_to_annual_at_the_boundary_without_prorations(
    emu, clock, customer, teams_monthly, teams_annual
):
    sub = subscribe(customer, teams_monthly, quantity=3)
    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    schedule = _next_phase(
        sub,
        schedule,
        price=teams_annual,
        quantity=5,
        duration={"interval": "year", "interval_count": 1},
    )
    assert [(p.start_date, p.end_date) for p in schedule.phases] == [
        (JAN_1, FEB_1),
        (FEB_1, FEB_1_2027),
    ]
    # Nothing changes before the boundary.
    advance(clock, FEB_1 - HOUR)
    assert stripe.Subscription.retrieve(sub.id)["items"].data[0].quantity == 3
    advance(clock, FEB_1 + HOUR)
    after = stripe.Subscription.retrieve(sub.id, expand=["latest_invoice"])
    item = after["items"].data[0]
    assert (item.price.id, item.quantity) == (teams_annual.id, 5)
    assert (item.current_period_start, item.current_period_end) == (FEB_1, FEB_1_2027)
    assert after.billing_cycle_anchor == FEB_1
    invoice = after.latest_invoice
    assert invoice.total == 5 * 18000
    assert not any(
        (line.parent.subscription_item_details or {}).get("proration")
        for line in invoice.lines.data
    )
    assert stripe.SubscriptionSchedule.retrieve(schedule.id).current_phase.start_date == FEB_1


def test_schedule_seat_decrease_applies_at_renewal_then_releases(
    emu, clock, customer, teams_monthly
):
    sub = subscribe(customer, teams_monthly, quantity=5)
    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    _next_phase(sub, schedule, price=teams_monthly, quantity=3, duration={"interval": "month"})
    advance(clock, FEB_1 + HOUR)
    assert stripe.Subscription.retrieve(sub.id)["items"].data[0].quantity == 3
    advance(clock, MAR_1 + HOUR)
    released = stripe.SubscriptionSchedule.retrieve(schedule.id)
    assert (released.status, released.released_subscription) == ("released", sub.id)
    after = stripe.Subscription.retrieve(sub.id)
    assert (after.schedule, after.status, after["items"].data[0].quantity) == (
        None,
        "active",
        3,
    )
    assert [i.amount_paid for i in cycle_invoices(sub.id)] == [5400, 5400]


def test_schedule_end_behavior_cancel_cancels_the_subscription(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly, quantity=3)
    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    _next_phase(
        sub,
        schedule,
        price=teams_monthly,
        quantity=3,
        duration={"interval": "month"},
        end_behavior="cancel",
    )
    advance(clock, MAR_1 + HOUR)
    after = stripe.Subscription.retrieve(sub.id)
    assert (after.status, after.ended_at) == ("canceled", MAR_1)
    assert stripe.SubscriptionSchedule.retrieve(schedule.id).status == "completed"


def test_schedule_release_keeps_current_items(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly, quantity=3)
    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    _next_phase(sub, schedule, price=teams_monthly, quantity=8, duration={"interval": "month"})
    released = stripe.SubscriptionSchedule.release(schedule.id)
    assert released.status == "released"
    advance(clock, FEB_1 + HOUR)
    after = stripe.Subscription.retrieve(sub.id)
    assert (after.schedule, after["items"].data[0].quantity) == (None, 3)
    with pytest.raises(stripe.InvalidRequestError):
        stripe.SubscriptionSchedule.release(schedule.id)


def test_schedule_cancel_cancels_the_subscription(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly)
    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    assert stripe.SubscriptionSchedule.cancel(schedule.id).status == "canceled"
    assert stripe.Subscription.retrieve(sub.id).status == "canceled"


def test_schedule_phase_with_end_date_before_start_is_refused(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly)
    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        _next_phase(sub, schedule, price=teams_monthly, quantity=3, end_date=FEB_1 - 10)
    assert caught.value.param == "phases[1][end_date]"
    assert len(stripe.SubscriptionSchedule.retrieve(schedule.id).phases) == 1


def test_scheduled_subscription_refuses_cancellation_changes(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly)
    stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Subscription.modify(sub.id, cancel_at_period_end=True)
    assert caught.value.param == "cancel_at_period_end"
    assert stripe.Subscription.retrieve(sub.id).cancel_at_period_end is False


def test_direct_increase_on_scheduled_subscription_then_next_phase_wins(
    emu, clock, customer, teams_monthly
):
    sub = subscribe(customer, teams_monthly, quantity=5)
    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    _next_phase(sub, schedule, price=teams_monthly, quantity=3, duration={"interval": "month"})
    advance(clock, JAN_1 + (FEB_1 - JAN_1) // 2)
    raised = stripe.Subscription.modify(
        sub.id,
        items=[{"id": sub["items"].data[0].id, "quantity": 7}],
        proration_behavior="always_invoice",
        expand=["latest_invoice"],
    )
    assert raised["items"].data[0].quantity == 7
    assert raised.latest_invoice.amount_paid == 1800  # 2 seats for half of January
    current = stripe.SubscriptionSchedule.retrieve(schedule.id).phases[0]
    assert current["items"][0].quantity == 7
    advance(clock, FEB_1 + HOUR)
    assert stripe.Subscription.retrieve(sub.id)["items"].data[0].quantity == 3


def test_preview_of_scheduled_subscription_bills_the_next_phase(
    emu, clock, customer, teams_monthly
):
    sub = subscribe(customer, teams_monthly, quantity=5)
    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    _next_phase(sub, schedule, price=teams_monthly, quantity=2, duration={"interval": "month"})
    preview = stripe.Invoice.create_preview(subscription=sub.id)
    assert preview.amount_due == 2 * 1800


def test_schedule_phase_ending_mid_period_is_refused(emu, clock, customer, teams_monthly):
    sub = subscribe(customer, teams_monthly)
    schedule = stripe.SubscriptionSchedule.create(from_subscription=sub.id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        _next_phase(sub, schedule, price=teams_monthly, quantity=3, end_date=MAR_1 - 86400)
    assert caught.value.param == "phases[1][end_date]"
    assert len(stripe.SubscriptionSchedule.retrieve(schedule.id).phases) == 1


def test_portal_session_requires_a_customer(emu):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.billing_portal.Session.create(return_url="http://app.test/billing")
    assert caught.value.param == "customer"
