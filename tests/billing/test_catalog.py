import pytest

from billing import catalog
from billing.catalog import Cycle, Tier, UnknownPlan


def _configured(settings, **price_ids):
    plans = {
        tier: {**spec, "prices": {c: dict(p) for c, p in spec["prices"].items()}}
        for tier, spec in settings.SEATWISE_PLANS.items()
    }
    for key, price_id in price_ids.items():
        tier, cycle = key.split("_")
        plans[tier]["prices"][cycle]["price_id"] = price_id
    settings.SEATWISE_PLANS = plans


def test_demo_catalog_amounts_match_the_design(settings):
    assert catalog.plan_get(tier=Tier.TEAMS, cycle=Cycle.MONTHLY).unit_amount == 1800
    assert catalog.plan_get(tier=Tier.TEAMS, cycle=Cycle.ANNUAL).unit_amount == 18000
    assert catalog.plan_get(tier=Tier.ENTERPRISE, cycle=Cycle.MONTHLY).unit_amount == 7200
    assert catalog.plan_get(tier=Tier.ENTERPRISE, cycle=Cycle.ANNUAL).unit_amount == 72000


@pytest.mark.parametrize(
    ("tier", "cycle", "seats", "cents"),
    [
        (Tier.TEAMS, Cycle.MONTHLY, 3, 5_400),
        (Tier.TEAMS, Cycle.ANNUAL, 5, 90_000),
        (Tier.ENTERPRISE, Cycle.MONTHLY, 2, 14_400),
        (Tier.ENTERPRISE, Cycle.ANNUAL, 10, 720_000),
    ],
)
def test_plan_amount_for_seats_in_cents(tier, cycle, seats, cents):
    assert catalog.plan_get(tier=tier, cycle=cycle).amount_for(seats) == cents


def test_annual_monthly_equivalent_rounds_to_the_cent():
    annual = catalog.plan_get(tier=Tier.TEAMS, cycle=Cycle.ANNUAL)
    assert annual.monthly_equivalent(3) == 4_500


def test_unknown_plan_is_refused():
    with pytest.raises(UnknownPlan):
        catalog.plan_get(tier="platinum", cycle=Cycle.MONTHLY)
    with pytest.raises(UnknownPlan):
        catalog.plan_get(tier=Tier.TEAMS, cycle="weekly")


def test_seat_item_is_found_by_price_not_by_position(settings):
    _configured(
        settings,
        teams_monthly="price_seats",
        teams_annual="price_a",
        enterprise_monthly="price_b",
        enterprise_annual="price_c",
    )
    items = [
        {"id": "si_addon", "price": {"id": "price_addon"}, "quantity": 1},
        {"id": "si_seats", "price": {"id": "price_seats"}, "quantity": 7},
    ]
    assert catalog.seat_item(items)["id"] == "si_seats"
    assert catalog.seat_item(items[:1]) is None


def test_plan_for_price_id_knows_every_configured_price(settings):
    _configured(
        settings,
        teams_monthly="p1",
        teams_annual="p2",
        enterprise_monthly="p3",
        enterprise_annual="p4",
    )
    plan = catalog.plan_for_price_id("p4")
    assert (plan.tier, plan.cycle) == (Tier.ENTERPRISE, Cycle.ANNUAL)
    assert catalog.plan_for_price_id("nope") is None
