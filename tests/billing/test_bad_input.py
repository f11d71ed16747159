"""Bad input to billing services: each gets a clear refusal and changes nothing, neither
here nor at Stripe."""

import pytest

from billing import services
from billing.models import PendingChange
from billing.services import BillingRefused
from organizations.exceptions import NotAllowed


@pytest.fixture
def subscribed(stripe_world, org, owner, member):
    return stripe_world.subscribe(org, owner, seats=5)


def _checkout(org, actor, *, seats):
    return services.checkout_start(
        organization=org,
        actor=actor,
        tier="teams",
        cycle="monthly",
        seats=seats,
        success_url="http://testserver/ok",
        cancel_url="http://testserver/no",
    )


def _snapshot(stripe_world, org):
    org.refresh_from_db()
    writes = [e for e in stripe_world.control.requests(method="POST")]
    return (
        org.seats_purchased,
        org.seats_at_renewal,
        org.plan_tier,
        org.billing_cycle,
        PendingChange.objects.filter(organization=org).count(),
        len(writes),
    )


@pytest.mark.parametrize(
    ("seats", "message"),
    [
        (-1, "at least 1 seat"),
        (0, "at least 1 seat"),
        (10_001, "the most is 10,000"),
        (10**30, "the most is 10,000"),
        ("three", "whole number"),
        ("2.5", "whole number"),
        ("", "whole number"),
        (None, "whole number"),
        (True, "whole number"),
        (3.0, "whole number"),
        (1, "2 seats are in use"),
    ],
)
def test_bad_seat_counts_are_refused_and_change_nothing(
    stripe_world, subscribed, owner, seats, message
):
    before = _snapshot(stripe_world, subscribed)

    with pytest.raises(BillingRefused) as refused:
        services.seats_change(organization=subscribed, actor=owner, seats=seats)

    assert message in refused.value.message
    assert _snapshot(stripe_world, subscribed) == before


def test_a_seat_count_string_of_digits_is_accepted(stripe_world, subscribed, owner):
    change = services.seats_change(organization=subscribed, actor=owner, seats=" 3 ")
    assert change.target_quantity == 3


@pytest.mark.parametrize(
    ("tier", "cycle"),
    [("platinum", "monthly"), ("teams", "weekly"), ("", ""), ("TEAMS", "monthly")],
)
def test_unknown_tiers_and_cycles_are_refused_at_checkout(org, owner, tier, cycle):
    with pytest.raises(BillingRefused) as refused:
        services.checkout_start(
            organization=org,
            actor=owner,
            tier=tier,
            cycle=cycle,
            seats=3,
            success_url="http://testserver/ok",
            cancel_url="http://testserver/no",
        )
    assert "Unknown plan" in refused.value.message


def test_unknown_cycle_and_tier_changes_are_refused(stripe_world, subscribed, owner):
    before = _snapshot(stripe_world, subscribed)
    with pytest.raises(BillingRefused):
        services.cycle_change_schedule(organization=subscribed, actor=owner, cycle="biweekly")
    with pytest.raises(BillingRefused):
        services.plan_change(organization=subscribed, actor=owner, tier="gold")
    assert _snapshot(stripe_world, subscribed) == before


def test_checkout_below_seats_in_use_is_refused(org, owner, member):
    with pytest.raises(BillingRefused) as refused:
        _checkout(org, owner, seats=1)
    assert "2 seats are in use" in refused.value.message


def test_checkout_above_the_tier_limit_is_refused(org, owner, settings):
    plans = {tier: {**spec} for tier, spec in settings.SEATWISE_PLANS.items()}
    plans["teams"]["max_seats"] = 3
    settings.SEATWISE_PLANS = plans
    with pytest.raises(BillingRefused) as refused:
        _checkout(org, owner, seats=4)
    assert "Teams allows up to 3 seats" in refused.value.message


def test_second_checkout_while_subscribed_is_refused(stripe_world, subscribed, owner):
    with pytest.raises(BillingRefused) as refused:
        _checkout(subscribed, owner, seats=5)
    assert "already has a subscription" in refused.value.message


def test_seat_changes_without_a_subscription_are_refused(org, owner):
    with pytest.raises(BillingRefused) as refused:
        services.seats_change(organization=org, actor=owner, seats=3)
    assert "no active subscription" in refused.value.message


@pytest.mark.parametrize(
    "operation",
    [
        lambda org, actor: services.seats_change(organization=org, actor=actor, seats=6),
        lambda org, actor: services.seats_change(organization=org, actor=actor, seats=4),
        lambda org, actor: services.cycle_change_schedule(
            organization=org, actor=actor, cycle="annual"
        ),
        lambda org, actor: services.plan_change(organization=org, actor=actor, tier="enterprise"),
        lambda org, actor: services.subscription_cancel(organization=org, actor=actor),
        lambda org, actor: services.seat_change_preview(organization=org, actor=actor, seats=6),
    ],
    ids=["increase", "decrease", "cycle", "upgrade", "cancel", "preview"],
)
def test_members_and_outsiders_may_not_touch_billing(
    stripe_world, subscribed, member, outsider, operation
):
    before = _snapshot(stripe_world, subscribed)
    for actor in (member, outsider):
        with pytest.raises(NotAllowed) as refused:
            operation(subscribed, actor)
        assert "owners and billing managers" in refused.value.message
    assert _snapshot(stripe_world, subscribed) == before


def test_billing_manager_may_change_seats(stripe_world, subscribed, billing_manager):
    change = services.seats_change(organization=subscribed, actor=billing_manager, seats=4)
    assert change.target_quantity == 4


def test_pending_change_of_another_org_cannot_be_cancelled(
    stripe_world, subscribed, owner, other_org, outsider
):
    change = services.seats_change(organization=subscribed, actor=owner, seats=4)
    with pytest.raises(PendingChange.DoesNotExist):
        services.pending_change_cancel(organization=other_org, actor=outsider, change_id=change.pk)
    change.refresh_from_db()
    assert change.status == PendingChange.Status.PENDING
