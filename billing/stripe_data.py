"""Reading Stripe objects (plain dicts) the way the pinned "dahlia" API shapes them.

dj-stripe 2.11 still reads some fields where older API versions kept them. These
helpers read them where they are now, and every caller goes through them:
- a subscription's period lives on each subscription item, not on the subscription;
- an invoice names its subscription under ``parent.subscription_details``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from billing import catalog


def to_datetime(timestamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None


def to_timestamp(moment: datetime) -> int:
    return int(moment.timestamp())


def _id(value) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value


@dataclass(frozen=True)
class SeatItem:
    """The paid seat line of a subscription, found by its catalog price. Read from a
    schedule's phase it has no ``item_id`` (phases list prices, not subscription items)."""

    item_id: str
    price_id: str
    quantity: int
    plan: catalog.Plan
    period_start: datetime | None
    period_end: datetime | None


def subscription_items(subscription: dict) -> list[dict]:
    items = subscription.get("items") or {}
    return items.get("data", []) if isinstance(items, dict) else list(items)


def subscription_seat_item(subscription: dict) -> SeatItem | None:
    item = catalog.seat_item(subscription_items(subscription))
    if item is None:
        return None
    price_id = _id(item["price"])
    return SeatItem(
        item_id=item["id"],
        price_id=price_id,
        quantity=int(item.get("quantity") or 0),
        plan=catalog.plan_for_price_id(price_id),
        period_start=to_datetime(item.get("current_period_start")),
        period_end=to_datetime(item.get("current_period_end")),
    )


def schedule_seat_item(schedule: dict) -> SeatItem | None:
    """The seat line of a schedule's first phase. A schedule just created from a
    subscription has one phase, the current period as it stands, so this is the
    subscription's seat item without reading the subscription."""
    phases = schedule.get("phases") or []
    item = catalog.seat_item(phases[0].get("items") or []) if phases else None
    if item is None:
        return None
    price_id = _id(item["price"])
    return SeatItem(
        item_id="",
        price_id=price_id,
        quantity=int(item.get("quantity") or 0),
        plan=catalog.plan_for_price_id(price_id),
        period_start=to_datetime(phases[0].get("start_date")),
        period_end=to_datetime(phases[0].get("end_date")),
    )


def subscription_schedule_id(subscription: dict) -> str | None:
    return _id(subscription.get("schedule"))


def invoice_subscription_id(invoice: dict) -> str | None:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return _id(details.get("subscription"))
