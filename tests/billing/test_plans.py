"""SCENARIOS.md 16-17 and the tier moves: upgrade now, downgrade at renewal, cancel and
resubscribe."""

from datetime import timedelta

import pytest

from billing import services
from billing.models import PendingChange
from billing.selectors import Status, checkout_defaults, subscription_summary
from billing.services import BillingRefused
from tests.billing.conftest import halfway, just_after


@pytest.fixture
def teams_max_three(settings):
    plans = {tier: {**spec} for tier, spec in settings.SEATWISE_PLANS.items()}
    plans["teams"]["max_seats"] = 3
    settings.SEATWISE_PLANS = plans


def test_downgrade_refused_when_usage_exceeds_the_smaller_tier(
    stripe_world, teams_max_three, org, owner
):
    org = stripe_world.subscribe(org, owner, tier="enterprise", seats=5)
    stripe_world.add_members(org, owner, 4)  # 5 in use

    with pytest.raises(BillingRefused) as refused:
        services.plan_change(organization=org, actor=owner, tier="teams")

    assert refused.value.message == (
        "You are using 5 seats; Teams allows up to 3. Remove 2 members or invitations to continue."
    )
    assert not PendingChange.objects.filter(organization=org).exists()
    with pytest.raises(BillingRefused) as at_preview:
        services.plan_change_preview(organization=org, actor=owner, tier="teams")
    assert at_preview.value.message == refused.value.message


def test_downgrade_accepted_within_limits_takes_effect_at_renewal(
    stripe_world, teams_max_three, org, owner
):
    org = stripe_world.subscribe(org, owner, tier="enterprise", seats=5)
    stripe_world.add_members(org, owner, 2)  # 3 in use

    preview = services.plan_change_preview(organization=org, actor=owner, tier="teams")
    change = services.plan_change(organization=org, actor=owner, tier="teams")

    assert (preview.upgrade, preview.seats, preview.amount_due) == (False, 3, 0)
    assert preview.renewal_amount == 5_400
    org.refresh_from_db()
    assert (change.target_tier, change.target_quantity) == ("teams", 3)
    assert org.plan_tier == "enterprise"  # until renewal
    assert subscription_summary(organization=org).next_invoice_amount == 5_400
    org = stripe_world.renew(org)
    assert [inv["amount_paid"] for inv in stripe_world.invoices(org)] == [36_000, 5_400]
    assert (org.plan_tier, org.seats_purchased) == ("teams", 3)


def test_upgrade_applies_now_and_prorates(stripe_world, org, owner):
    org = stripe_world.subscribe(org, owner, tier="teams", seats=2)
    middle = halfway(org)
    stripe_world.advance(org, middle)

    preview = services.plan_change_preview(
        organization=org, actor=owner, tier="enterprise", now=middle
    )
    services.plan_change(organization=org, actor=owner, tier="enterprise", now=middle)

    org.refresh_from_db()
    assert org.plan_tier == "enterprise"
    # Half a period: -2 x 1800 / 2 + 2 x 7200 / 2.
    assert stripe_world.invoices(org)[-1]["amount_paid"] == 5_400
    assert (preview.upgrade, preview.amount_due, preview.renewal_amount) == (True, 5_400, 14_400)
    org = stripe_world.renew(org)
    assert stripe_world.invoices(org)[-1]["amount_paid"] == 14_400


def test_cancel_at_period_end_can_be_undone_until_then(stripe_world, org, owner):
    org = stripe_world.subscribe(org, owner, seats=3)

    services.subscription_cancel(organization=org, actor=owner)
    org.refresh_from_db()
    assert subscription_summary(organization=org).status == Status.CANCEL_SCHEDULED
    services.subscription_uncancel(organization=org, actor=owner)
    org.refresh_from_db()
    assert subscription_summary(organization=org).status == Status.ACTIVE

    org = stripe_world.renew(org)
    assert [inv["amount_paid"] for inv in stripe_world.invoices(org)] == [5_400, 5_400]


def test_resubscribe_after_the_end_defaults_to_the_previous_plan(stripe_world, org, owner, member):
    org = stripe_world.subscribe(org, owner, tier="teams", cycle="annual", seats=3)
    services.subscription_cancel(organization=org, actor=owner)
    org.refresh_from_db()
    stripe_world.advance(org, just_after(org.current_period_end))
    org.refresh_from_db()
    assert subscription_summary(organization=org).status == Status.ENDED
    assert org.seats_purchased == 0

    defaults = checkout_defaults(organization=org)
    assert (defaults.tier, defaults.cycle, defaults.seats) == ("teams", "annual", 3)

    org = stripe_world.subscribe(
        org,
        owner,
        tier=defaults.tier,
        cycle=defaults.cycle,
        seats=defaults.seats,
        start=stripe_world.now(org),
    )
    assert subscription_summary(organization=org).status == Status.ACTIVE
    assert stripe_world.invoices(org)[-1]["amount_paid"] == 54_000


def test_first_checkout_defaults_to_teams_monthly_for_the_seats_in_use(org, owner, member):
    defaults = checkout_defaults(organization=org)
    assert (defaults.tier, defaults.cycle, defaults.seats) == ("teams", "monthly", 2)


def test_cancelling_the_subscription_withdraws_the_pending_change(stripe_world, org, owner):
    org = stripe_world.subscribe(org, owner, seats=3)
    change = services.cycle_change_schedule(organization=org, actor=owner, cycle="annual")
    services.renewal_run(now=org.current_period_end - timedelta(hours=1))

    services.subscription_cancel(organization=org, actor=owner)

    change.refresh_from_db()
    assert change.status == PendingChange.Status.CANCELLED
    assert stripe_world.subscription(org)["schedule"] is None
    org.refresh_from_db()
    assert org.cancel_at_period_end is True
