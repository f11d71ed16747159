import pytest

from billing.selectors import Status, subscription_summary
from tests.billing.conftest import JAN_15


@pytest.mark.parametrize(
    ("tier", "cycle", "seats", "first_invoice_cents"),
    [
        ("teams", "monthly", 3, 5_400),
        ("teams", "annual", 5, 90_000),
        ("enterprise", "monthly", 2, 14_400),
        ("enterprise", "annual", 10, 720_000),
    ],
)
def test_checkout_first_invoice_bills_seats_times_price(
    stripe_world, org, owner, tier, cycle, seats, first_invoice_cents
):
    stripe_world.subscribe(org, owner, tier=tier, cycle=cycle, seats=seats)

    invoices = stripe_world.invoices(org)
    assert [inv["amount_paid"] for inv in invoices] == [first_invoice_cents]
    summary = subscription_summary(organization=org, now=JAN_15)
    assert summary.status == Status.ACTIVE
    assert (summary.tier, summary.cycle, summary.purchased) == (tier, cycle, seats)
    assert org.current_period_start == JAN_15
