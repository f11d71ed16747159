"""The plan catalog: tiers (Teams, Enterprise), each with a monthly and an annual price.

Built from ``settings.SEATWISE_PLANS``. Amounts are integer cents and must equal the
Stripe prices (``billing_catalog_ensure`` checks that). A price ID missing from the
settings is looked up once by its ``lookup_key`` through the gateway.

The paid seat item of a subscription is found by these known price IDs, never by its
position in the item list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from django.conf import settings


class Tier:
    TEAMS = "teams"
    ENTERPRISE = "enterprise"


class Cycle:
    MONTHLY = "monthly"
    ANNUAL = "annual"

    INTERVALS = {MONTHLY: "month", ANNUAL: "year"}
    LABELS = {MONTHLY: "Monthly", ANNUAL: "Annual"}


# Upgrades go up this list and apply now; downgrades go down it and wait for renewal.
TIER_ORDER = [Tier.TEAMS, Tier.ENTERPRISE]


class UnknownPlan(ValueError):
    pass


@dataclass(frozen=True)
class Plan:
    tier: str
    tier_name: str
    cycle: str
    lookup_key: str
    unit_amount: int  # cents per seat per interval
    configured_price_id: str = ""
    max_seats: int | None = None
    features: tuple[str, ...] = field(default_factory=tuple)

    @property
    def interval(self) -> str:
        return Cycle.INTERVALS[self.cycle]

    @property
    def name(self) -> str:
        return f"{self.tier_name} {Cycle.LABELS[self.cycle].lower()}"

    @property
    def price_id(self) -> str:
        return self.configured_price_id or _price_id_for_lookup_key(self.lookup_key)

    def amount_for(self, seats: int) -> int:
        return self.unit_amount * seats

    def monthly_equivalent(self, seats: int) -> int:
        """What the plan costs per month, rounded to the cent (for comparisons only)."""
        months = 12 if self.cycle == Cycle.ANNUAL else 1
        return round(self.amount_for(seats) / months)


def plans() -> list[Plan]:
    result = []
    for tier, spec in settings.SEATWISE_PLANS.items():
        for cycle, price in spec["prices"].items():
            result.append(
                Plan(
                    tier=tier,
                    tier_name=spec["name"],
                    cycle=cycle,
                    lookup_key=price["lookup_key"],
                    unit_amount=int(price["unit_amount"]),
                    configured_price_id=price.get("price_id") or "",
                    max_seats=spec.get("max_seats"),
                    features=tuple(spec.get("features", ())),
                )
            )
    return result


def plan_get(*, tier: str, cycle: str) -> Plan:
    for plan in plans():
        if plan.tier == tier and plan.cycle == cycle:
            return plan
    raise UnknownPlan(f"There is no {cycle!r} price for the {tier!r} plan.")


def plan_for_price_id(price_id: str) -> Plan | None:
    for plan in plans():
        if plan.price_id == price_id:
            return plan
    return None


def tier_names() -> dict[str, str]:
    return {tier: spec["name"] for tier, spec in settings.SEATWISE_PLANS.items()}


def tier_rank(tier: str) -> int:
    return TIER_ORDER.index(tier)


def seat_item(items: list[dict]) -> dict | None:
    """The subscription item that bills seats: the one whose price is in the catalog."""
    known = {plan.price_id for plan in plans()}
    for item in items:
        price = item.get("price") or {}
        price_id = price.get("id") if isinstance(price, dict) else price
        if price_id in known:
            return item
    return None


@cache
def _lookup_cache() -> dict[str, str]:
    return {}


def _price_id_for_lookup_key(lookup_key: str) -> str:
    cache_key = f"{getattr(settings, 'STRIPE_API_HOST', '')}|{lookup_key}"
    cached = _lookup_cache().get(cache_key)
    if cached:
        return cached
    from billing import gateway

    price_id = gateway.price_id_for_lookup_key(lookup_key)
    if not price_id:
        raise UnknownPlan(f"Stripe has no price with lookup_key {lookup_key!r}.")
    _lookup_cache()[cache_key] = price_id
    return price_id


def clear_price_cache() -> None:
    _lookup_cache().clear()
