"""SCENARIOS.md 10-15: seat and cycle changes, end to end through the emulator and its
test clock, with exact invoice amounts in cents."""

from datetime import timedelta

import pytest
import stripe

from billing import services
from billing.gateway import PaymentDeclined
from billing.models import PendingChange
from billing.selectors import cycle_change_comparison, subscription_summary
from billing.services import BillingRefused
from organizations.services import membership_add_direct
from seats.exceptions import SeatLimitReached
from seats.models import SeatUsageEvent
from tests.billing.conftest import halfway
from tests.factories import UserFactory


def _proration_lines(invoice: dict) -> list[dict]:
    """Stripe marks prorations on the line's parent details (invoice item or sub item)."""
    found = []
    for line in invoice["lines"]["data"]:
        parent = line.get("parent") or {}
        details = parent.get("invoice_item_details") or parent.get("subscription_item_details")
        if (details or {}).get("proration"):
            found.append(line)
    return found


def test_seat_increase_halfway_invoices_the_prorated_difference_now(stripe_world, org, owner):
    org = stripe_world.subscribe(org, owner, seats=3)
    middle = halfway(org)
    stripe_world.advance(org, middle)

    preview = services.seat_change_preview(organization=org, actor=owner, seats=5, now=middle)
    services.seats_change(organization=org, actor=owner, seats=5, now=middle)
    stripe_world.deliver()

    first, proration = stripe_world.invoices(org)
    assert first["amount_paid"] == 5_400
    assert proration["amount_paid"] == 1_800
    assert sorted(line["amount"] for line in _proration_lines(proration)) == [-2_700, 4_500]
    assert preview.amount_due == 1_800
    org.refresh_from_db()
    summary = subscription_summary(organization=org, now=middle)
    assert summary.purchased == 5
    assert summary.next_invoice_amount == 9_000


def test_seat_increase_at_a_third_of_the_period_prorates_to_the_cent(stripe_world, org, owner):
    org = stripe_world.subscribe(org, owner, seats=3)
    start, end = org.current_period_start, org.current_period_end
    third = start + (end - start) / 3
    stripe_world.advance(org, third)

    services.seats_change(organization=org, actor=owner, seats=4, now=third)

    proration = stripe_world.invoices(org)[-1]
    # 2/3 of the period remains: -round(3 x 1800 x 2/3) + round(4 x 1800 x 2/3).
    assert sorted(line["amount"] for line in _proration_lines(proration)) == [-3_600, 4_800]
    assert proration["amount_paid"] == 1_200


def test_seat_increase_with_a_declined_card_changes_nothing(stripe_world, org, owner):
    org = stripe_world.subscribe(org, owner, seats=3)
    customer_id = stripe_world.customer_id(org)
    declining = stripe.PaymentMethod.create(
        type="card", card={"number": "4000000000000341", "exp_month": 12, "exp_year": 2030}
    )
    stripe.PaymentMethod.attach(declining.id, customer=customer_id)
    stripe.Customer.modify(customer_id, invoice_settings={"default_payment_method": declining.id})
    stripe.Subscription.modify(org.stripe_subscription_id, default_payment_method=declining.id)
    invoices_before = len(stripe_world.invoices(org))

    with pytest.raises(PaymentDeclined) as refused:
        services.seats_change(
            organization=org, actor=owner, seats=5, now=org.current_period_start + timedelta(days=3)
        )

    assert refused.value.message
    org.refresh_from_db()
    assert org.seats_purchased == 3
    assert stripe_world.subscription(org)["items"]["data"][0]["quantity"] == 3
    assert len([i for i in stripe_world.invoices(org) if i["status"] == "paid"]) == 1
    assert len(stripe_world.invoices(org)) >= invoices_before


def test_seat_decrease_waits_for_renewal_and_renewal_bills_the_lower_count(
    stripe_world, org, owner, member
):
    org = stripe_world.subscribe(org, owner, seats=5)
    asked_at = org.current_period_start + timedelta(days=10)

    change = services.seats_change(organization=org, actor=owner, seats=3, now=asked_at)

    org.refresh_from_db()
    summary = subscription_summary(organization=org, now=asked_at)
    assert (summary.used, summary.purchased, summary.at_renewal) == (2, 5, 3)
    assert summary.pending_change == change
    assert summary.next_invoice_amount == 5_400
    assert len(stripe_world.invoices(org)) == 1  # nothing charged or credited now

    org = stripe_world.renew(org)

    invoices = stripe_world.invoices(org)
    assert [inv["amount_paid"] for inv in invoices] == [9_000, 5_400]
    assert not _proration_lines(invoices[-1])
    change.refresh_from_db()
    assert change.status == PendingChange.Status.APPLIED
    assert (org.seats_purchased, org.seats_at_renewal) == (3, None)
    assert stripe_world.subscription(org)["schedule"] is None


def test_seat_decrease_below_use_is_refused_and_changes_nothing(stripe_world, org, owner, member):
    org = stripe_world.subscribe(org, owner, seats=5)

    with pytest.raises(BillingRefused) as refused:
        services.seats_change(organization=org, actor=owner, seats=1)

    assert "2 seats are in use" in refused.value.message
    assert "Remove members or pending invitations first" in refused.value.message
    org.refresh_from_db()
    assert not PendingChange.objects.filter(organization=org).exists()
    assert (org.seats_purchased, org.seats_at_renewal) == (5, None)


def test_joins_are_capped_at_the_pending_decrease(stripe_world, org, owner, member):
    org = stripe_world.subscribe(org, owner, seats=5)
    stripe_world.add_members(org, owner, 1)  # 3 in use
    services.seats_change(organization=org, actor=owner, seats=3)
    org.refresh_from_db()
    ledger_rows = SeatUsageEvent.objects.filter(organization=org).count()

    with pytest.raises(SeatLimitReached) as refused:
        membership_add_direct(organization=org, user=UserFactory(), actor=owner)

    assert "drops to 3 seats at renewal" in refused.value.message
    assert SeatUsageEvent.objects.filter(organization=org).count() == ledger_rows

    services.seats_change(organization=org, actor=owner, seats=4)  # raise the decrease
    org.refresh_from_db()
    membership_add_direct(organization=org, user=UserFactory(), actor=owner)
    assert subscription_summary(organization=org).used == 4


def test_monthly_to_annual_charges_nothing_now_and_renews_annually(stripe_world, org, owner):
    org = stripe_world.subscribe(org, owner, seats=3)

    comparison = cycle_change_comparison(organization=org, cycle="annual")
    assert (comparison.now_amount, comparison.after_amount) == (5_400, 54_000)
    assert comparison.after_monthly_equivalent == 4_500
    old_end = org.current_period_end
    services.cycle_change_schedule(organization=org, actor=owner, cycle="annual")
    assert len(stripe_world.invoices(org)) == 1
    org.refresh_from_db()
    assert org.current_period_end == old_end  # no anchor reset before renewal

    org = stripe_world.renew(org)

    assert [inv["amount_paid"] for inv in stripe_world.invoices(org)] == [5_400, 54_000]
    assert (org.plan_tier, org.billing_cycle, org.seats_purchased) == ("teams", "annual", 3)
    assert org.current_period_start == old_end
    assert org.current_period_end.year == old_end.year + 1


def test_cancelled_pending_change_renews_the_unchanged_plan(stripe_world, org, owner):
    org = stripe_world.subscribe(org, owner, seats=3)
    change = services.cycle_change_schedule(organization=org, actor=owner, cycle="annual")
    services.renewal_run(now=org.current_period_end - timedelta(hours=1))  # schedule written
    change.refresh_from_db()
    assert change.scheduled_at is not None

    services.pending_change_cancel(organization=org, actor=owner, change_id=change.pk)

    org.refresh_from_db()
    assert subscription_summary(organization=org).pending_change is None
    org = stripe_world.renew(org)
    assert [inv["amount_paid"] for inv in stripe_world.invoices(org)] == [5_400, 5_400]
    assert org.billing_cycle == "monthly"


def test_three_monthly_renewals_bill_three_times(stripe_world, org, owner):
    org = stripe_world.subscribe(org, owner, seats=4)
    for _ in range(3):
        org = stripe_world.renew(org)
    assert [inv["amount_paid"] for inv in stripe_world.invoices(org)] == [7_200] * 4
