"""Billing engine: periods, prorations, invoices, payments, renewals and schedule phases.

Everything here runs under the store lock and takes `now` explicitly, so a test clock can
replay each boundary at its own timestamp. Money is integer cents throughout.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any

from stripe_emulator import shapes
from stripe_emulator.errors import StripeError
from stripe_emulator.store import Store

# Stripe's test cards: number → (stage that fails, decline_code, message).
# Cards that fail "attach" are refused when attached to a customer; "charge" cards attach
# fine and fail when an invoice is paid (4000000000000341).
TEST_CARDS: dict[str, tuple[str | None, str | None, str]] = {
    "4242424242424242": (None, None, ""),
    "4000056655665556": (None, None, ""),
    "5555555555554444": (None, None, ""),
    "4000000000000002": ("attach", "generic_decline", "Your card was declined."),
    "4000000000009995": (
        "attach",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "4000000000000341": ("charge", "generic_decline", "Your card was declined."),
}

# stripe's `pm_card_*` test tokens, mapped to the card numbers above.
TEST_PAYMENT_METHOD_TOKENS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "tok_visa": "4242424242424242",
    "tok_chargeDeclined": "4000000000000002",
}


def card_check(*, number: str, stage: str) -> None:
    """Raise Stripe's card_error when `number` fails at `stage` ("attach" or "charge")."""
    if number not in TEST_CARDS:
        raise StripeError(
            status=402,
            type="card_error",
            code="incorrect_number",
            message="Your card number is incorrect.",
            param="number",
        )
    fails_at, decline_code, message = TEST_CARDS[number]
    # A card that fails on attach also fails on charge.
    if fails_at == stage or (fails_at == "attach" and stage == "charge"):
        raise StripeError.card_declined(decline_code=decline_code or "", message=message)


# ---------------------------------------------------------------------------- periods


def add_interval(*, start: int, interval: str, count: int, anchor_day: int | None = None) -> int:
    """One billing interval after `start`; month ends clamp like Stripe (Jan 31 → Feb 28)."""
    if interval == "day":
        return start + count * 86400
    if interval == "week":
        return start + count * 7 * 86400
    months = count * (12 if interval == "year" else 1)
    begin = dt.datetime.fromtimestamp(start, tz=dt.UTC)
    month_index = begin.month - 1 + months
    year, month = begin.year + month_index // 12, month_index % 12 + 1
    day = min(anchor_day or begin.day, calendar.monthrange(year, month)[1])
    return int(begin.replace(year=year, month=month, day=day).timestamp())


def price_interval(price_obj: dict[str, Any]) -> tuple[str, int]:
    recurring = price_obj["recurring"]
    return recurring["interval"], recurring["interval_count"]


def prorate(*, unit_amount: int, quantity: int, start: int, end: int, at: int) -> int:
    """Prorated amount for the remaining time [at, end) of a period [start, end).

    Stripe prorates to the second and rounds each proration line to the nearest cent.
    We compute the exact rational `unit_amount * quantity * (end - at) / (end - start)`
    and round half up (away from zero for the credit lines, which negate this value).
    """
    if end <= start:
        return 0
    remaining = min(end - start, max(0, end - max(at, start)))
    numerator = unit_amount * quantity * remaining
    denominator = end - start
    return (2 * numerator + denominator) // (2 * denominator)


# Stripe writes "3 <multiplication sign> Teams" in line descriptions.
TIMES = "\u00d7"


def _date_label(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%d %b %Y")


def _money(cents: int, currency: str) -> str:
    symbol = "$" if currency == "usd" else ""
    return f"{symbol}{cents / 100:.2f}"


def product_name(store: Store, price_obj: dict[str, Any]) -> str:
    product = store.find(price_obj["product"], kind="product")
    return product["name"] if product else price_obj["id"]


# ---------------------------------------------------------------------------- items


@dataclass(frozen=True)
class ItemSpec:
    """A desired subscription item: existing id (or None for new), price, quantity."""

    item_id: str | None
    price_id: str
    quantity: int
    metadata: dict[str, str]


def recurring_price(store: Store, price_id: Any, *, param: str) -> dict[str, Any]:
    price_obj = store.get(price_id, kind="price", param=param)
    if price_obj["type"] != "recurring":
        raise StripeError.invalid(
            message=(
                f"The price specified ({price_id}) is not a recurring price; "
                "subscriptions need recurring prices."
            ),
            param=param,
        )
    if not price_obj["active"]:
        raise StripeError.invalid(
            message=f"The price specified ({price_id}) is inactive.", param=param
        )
    return price_obj


def check_quantity(value: Any, *, param: str) -> int:
    if not isinstance(value, int) or value < 0:
        raise StripeError.invalid(
            message=f"Invalid non-negative integer: {value}",
            param=param,
            code="parameter_invalid_integer",
        )
    if value > 100_000_000:
        raise StripeError.invalid(
            message=f"This value must be less than or equal to 100000000: {param}", param=param
        )
    return value


def check_same_interval(store: Store, specs: list[ItemSpec]) -> None:
    intervals = {price_interval(store.objects[s.price_id]) for s in specs}
    if len(intervals) > 1:
        raise StripeError.invalid(
            message="All prices on a subscription must have the same `recurring.interval` "
            "and `recurring.interval_count`.",
            param="items",
        )
    currencies = {store.objects[s.price_id]["currency"] for s in specs}
    if len(currencies) > 1:
        raise StripeError.invalid(
            message="All prices on a subscription must have the same currency.", param="items"
        )


def sub_items(store: Store, sub: dict[str, Any]) -> list[dict[str, Any]]:
    return [store.objects[i] for i in sub["_item_ids"] if i not in store.deleted]


def current_specs(store: Store, sub: dict[str, Any]) -> list[ItemSpec]:
    return [
        ItemSpec(
            item_id=i["id"], price_id=i["price"], quantity=i["quantity"], metadata=i["metadata"]
        )
        for i in sub_items(store, sub)
    ]


def set_period(store: Store, sub: dict[str, Any], *, period: tuple[int, int]) -> None:
    sub["_period"] = period
    for item in sub_items(store, sub):
        item["current_period_start"], item["current_period_end"] = period


def apply_specs(store: Store, sub: dict[str, Any], *, specs: list[ItemSpec], now: int) -> None:
    """Make the subscription's items equal `specs` (updating, adding, deleting)."""
    keep: list[str] = []
    for spec in specs:
        if spec.item_id is not None:
            item = store.objects[spec.item_id]
            item["price"], item["quantity"] = spec.price_id, spec.quantity
            item["metadata"] = dict(spec.metadata)
        else:
            item = store.put(
                shapes.subscription_item(
                    item_id=store.new_id("si_"),
                    created=now,
                    sub_id=sub["id"],
                    price_id=spec.price_id,
                    quantity=spec.quantity,
                    metadata=spec.metadata,
                    period=sub["_period"],
                )
            )
        keep.append(item["id"])
    for item_id in sub["_item_ids"]:
        if item_id not in keep:
            store.deleted.add(item_id)
    sub["_item_ids"] = keep


# ---------------------------------------------------------------------------- prorations


def proration_items(
    store: Store,
    sub: dict[str, Any],
    *,
    old: list[ItemSpec],
    new: list[ItemSpec],
    at: int,
) -> list[dict[str, Any]]:
    """Pending proration invoice items (unsaved) for changing `old` into `new` at `at`."""
    if sub["status"] == "trialing":
        return []
    start, end = sub["_period"]
    customer_obj = store.objects[sub["customer"]]
    old_by_id = {s.item_id: s for s in old}
    new_by_id = {s.item_id: s for s in new if s.item_id}
    result: list[dict[str, Any]] = []

    def line(spec: ItemSpec, *, sign: int, item_id: str | None) -> None:
        price_obj = store.objects[spec.price_id]
        amount = prorate(
            unit_amount=price_obj["unit_amount"] or 0,
            quantity=spec.quantity,
            start=start,
            end=end,
            at=at,
        )
        label = "Unused time on" if sign < 0 else "Remaining time on"
        description = (
            f"{label} {spec.quantity} {TIMES} {product_name(store, price_obj)}"
            f" after {_date_label(at)}"
        )
        result.append(
            shapes.invoice_item(
                item_id=store.new_id("ii_"),
                created=at,
                customer_obj=customer_obj,
                amount=sign * amount,
                description=description,
                period=(at, end),
                quantity=spec.quantity,
                price_obj=price_obj,
                sub_id=sub["id"],
                sub_item_id=item_id,
                proration=True,
            )
        )

    for item_id, before in old_by_id.items():
        after = new_by_id.get(item_id)
        if after is not None and (after.price_id, after.quantity) == (
            before.price_id,
            before.quantity,
        ):
            continue
        line(before, sign=-1, item_id=item_id)
        if after is not None:
            line(after, sign=+1, item_id=item_id)
    for spec in new:
        if spec.item_id is None:
            line(spec, sign=+1, item_id=None)
    return result


# ---------------------------------------------------------------------------- invoices


def invoice_new(
    store: Store,
    *,
    customer_id: str,
    sub: dict[str, Any] | None,
    billing_reason: str,
    period: tuple[int, int],
    now: int,
    invoice_id: str | None = None,
) -> dict[str, Any]:
    customer_obj = store.objects[customer_id]
    return shapes.invoice(
        invoice_id=invoice_id or store.new_id("in_"),
        created=now,
        customer_obj=customer_obj,
        sub_id=sub["id"] if sub else None,
        sub_metadata=sub["metadata"] if sub else None,
        billing_reason=billing_reason,
        currency=sub["currency"] if sub else "usd",
        period=period,
    )


def invoice_add_recurring_lines(
    store: Store,
    invoice: dict[str, Any],
    *,
    sub: dict[str, Any],
    specs: list[ItemSpec],
    period: tuple[int, int],
    trial: bool = False,
) -> None:
    for spec in specs:
        price_obj = store.objects[spec.price_id]
        unit = price_obj["unit_amount"] or 0
        interval, _ = price_interval(price_obj)
        name = product_name(store, price_obj)
        if trial:
            description = f"Trial period for {name}"
            amount = 0
        else:
            description = (
                f"{spec.quantity} {TIMES} {name}"
                f" (at {_money(unit, price_obj['currency'])} / {interval})"
            )
            amount = unit * spec.quantity
        invoice["_lines"].append(
            shapes.line_item(
                line_id=store.new_id("il_"),
                invoice_id=invoice["id"],
                amount=amount,
                currency=price_obj["currency"],
                description=description,
                period=period,
                quantity=spec.quantity,
                price_obj=price_obj,
                sub_id=sub["id"],
                sub_item_id=spec.item_id,
                proration=False,
                invoice_item_id=None,
            )
        )


def invoice_add_item_lines(
    store: Store, invoice: dict[str, Any], *, items: list[dict[str, Any]], attach: bool
) -> None:
    """Put invoice items (prorations) on the invoice; `attach` marks them as invoiced."""
    for item in items:
        price_obj = store.objects[item["pricing"]["price_details"]["price"]]
        invoice["_lines"].append(
            shapes.line_item(
                line_id=store.new_id("il_"),
                invoice_id=invoice["id"],
                amount=item["amount"],
                currency=item["currency"],
                description=item["description"],
                period=(item["period"]["start"], item["period"]["end"]),
                quantity=item["quantity"],
                price_obj=price_obj,
                sub_id=item["parent"]["subscription_details"]["subscription"],
                sub_item_id=item["parent"]["subscription_details"]["subscription_item"],
                proration=item["proration"],
                invoice_item_id=item["id"],
            )
        )
        if attach:
            item["invoice"] = invoice["id"]


def invoice_totals(store: Store, invoice: dict[str, Any]) -> None:
    total = sum(line["amount"] for line in invoice["_lines"])
    customer_obj = store.objects[invoice["customer"]]
    # A negative customer balance is credit and is spent before charging the card.
    starting = min(customer_obj["balance"], 0)
    net = total + starting
    invoice.update(
        subtotal=total,
        subtotal_excluding_tax=total,
        total=total,
        total_excluding_tax=total,
        starting_balance=starting,
        amount_due=max(net, 0),
        amount_remaining=max(net, 0) - invoice["amount_paid"],
    )
    invoice["_ending_balance"] = min(net, 0)


def pending_invoice_items(store: Store, *, sub_id: str) -> list[dict[str, Any]]:
    return [
        ii
        for ii in reversed(store.all("invoiceitem"))
        if ii["invoice"] is None and ii["parent"]["subscription_details"]["subscription"] == sub_id
    ]


def invoice_finalize(store: Store, invoice: dict[str, Any], *, now: int) -> None:
    customer_obj = store.objects[invoice["customer"]]
    invoice_totals(store, invoice)
    sequence = customer_obj["next_invoice_sequence"]
    customer_obj["next_invoice_sequence"] = sequence + 1
    if customer_obj["balance"] <= 0:
        customer_obj["balance"] = invoice["_ending_balance"]
    invoice.update(
        status="open",
        number=f"{customer_obj['invoice_prefix']}-{sequence:04d}",
        ending_balance=invoice["_ending_balance"],
        effective_at=now,
        hosted_invoice_url=f"{store.base_url}/invoice/{invoice['id']}",
        webhooks_delivered_at=now,
    )
    invoice["status_transitions"]["finalized_at"] = now
    store.emit("invoice.finalized", invoice)


def payment_method_for(store: Store, invoice: dict[str, Any]) -> str | None:
    if invoice["default_payment_method"]:
        return invoice["default_payment_method"]
    sub_id = (invoice["parent"] or {}).get("subscription_details", {}).get("subscription")
    sub = store.find(sub_id, kind="subscription")
    if sub and sub["default_payment_method"]:
        return sub["default_payment_method"]
    customer_obj = store.objects[invoice["customer"]]
    return customer_obj["invoice_settings"]["default_payment_method"]


def invoice_pay(
    store: Store, invoice: dict[str, Any], *, now: int, payment_method: str | None = None
) -> StripeError | None:
    """Charge the invoice; return the decline (already recorded on the invoice) or None."""
    if invoice["amount_due"] == 0:
        invoice_mark_paid(store, invoice, now=now)
        return None
    pm_id = payment_method or payment_method_for(store, invoice)
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    error: StripeError | None = None
    pm = store.find(pm_id, kind="payment_method")
    if pm is None or pm["customer"] != invoice["customer"]:
        error = StripeError.invalid(
            message="This customer has no attached payment source or default payment method. "
            "Please consider adding a default payment method.",
            code="invoice_no_customer_payment_method" if pm is None else "resource_missing",
        )
    else:
        try:
            card_check(number=pm["_number"], stage="charge")
        except StripeError as decline:
            error = decline
    if error is not None:
        invoice["last_finalization_error"] = None
        invoice["next_payment_attempt"] = None
        store.emit("invoice.payment_failed", invoice)
        return error
    invoice_mark_paid(store, invoice, now=now)
    return None


def invoice_mark_paid(store: Store, invoice: dict[str, Any], *, now: int) -> None:
    invoice.update(
        status="paid",
        amount_paid=invoice["amount_due"],
        amount_remaining=0,
        attempted=True,
        next_payment_attempt=None,
    )
    invoice["status_transitions"]["paid_at"] = now
    store.emit("invoice.paid", invoice)
    store.emit("invoice.payment_succeeded", invoice)


def invoice_create_for_items(
    store: Store,
    *,
    sub: dict[str, Any],
    billing_reason: str,
    period: tuple[int, int],
    now: int,
    recurring: list[ItemSpec],
    trial: bool = False,
    include_pending: bool = True,
    invoice_period: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Create and finalize (but not pay) an invoice for a subscription.

    `period` is what the recurring lines cover. The invoice's own period_start/end follow
    Stripe: the period that just ended for a renewal, the creation instant otherwise.
    """
    invoice = invoice_new(
        store,
        customer_id=sub["customer"],
        sub=sub,
        billing_reason=billing_reason,
        period=invoice_period or (now, now),
        now=now,
    )
    if include_pending:
        invoice_add_item_lines(
            store, invoice, items=pending_invoice_items(store, sub_id=sub["id"]), attach=True
        )
    invoice_add_recurring_lines(
        store, invoice, sub=sub, specs=recurring, period=period, trial=trial
    )
    invoice_totals(store, invoice)
    store.put(invoice)
    sub["latest_invoice"] = invoice["id"]
    store.emit("invoice.created", invoice)
    invoice_finalize(store, invoice, now=now)
    return invoice


# ---------------------------------------------------------------------------- subscriptions


def previous_attributes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in before.items() if after.get(k) != v}


def sub_update_event(store: Store, sub: dict[str, Any], *, before: dict[str, Any]) -> None:
    changed = previous_attributes(before, store.render(sub))
    if changed:
        store.emit("customer.subscription.updated", sub, previous_attributes=changed)


def sub_cancel(store: Store, sub: dict[str, Any], *, now: int, reason: str) -> None:
    sub.update(status="canceled", ended_at=now, canceled_at=sub["canceled_at"] or now)
    sub["cancellation_details"]["reason"] = reason
    sub["pending_update"] = None
    schedule = store.find(sub["schedule"], kind="subscription_schedule")
    if schedule and schedule["status"] in ("active", "not_started"):
        schedule.update(status="canceled", canceled_at=now, current_phase=None)
        store.emit("subscription_schedule.canceled", schedule)
    store.emit("customer.subscription.deleted", sub)


def sub_renew(store: Store, sub: dict[str, Any], *, at: int) -> None:
    """Everything that happens at the end of the current period, in Stripe's order."""
    before = store.render(sub)
    if sub["cancel_at_period_end"] or (sub["cancel_at"] is not None and sub["cancel_at"] <= at):
        sub_cancel(store, sub, now=at, reason="cancellation_requested")
        return
    schedule = store.find(sub["schedule"], kind="subscription_schedule")
    active = schedule is not None and schedule["status"] == "active"
    if active and schedule_advance(store, schedule, sub=sub, at=at) == "canceled":
        return
    specs = current_specs(store, sub)
    interval, count = price_interval(store.objects[specs[0].price_id])
    was_trial = sub["status"] == "trialing"
    if was_trial or sub["_interval"] != (interval, count):
        # A trial end or an interval change starts a new cycle anchored at the boundary.
        sub["billing_cycle_anchor"] = at
        sub["_interval"] = (interval, count)
    anchor_day = dt.datetime.fromtimestamp(sub["billing_cycle_anchor"], tz=dt.UTC).day
    period = (at, add_interval(start=at, interval=interval, count=count, anchor_day=anchor_day))
    ended = sub["_period"]
    set_period(store, sub, period=period)
    invoice = invoice_create_for_items(
        store,
        sub=sub,
        billing_reason="subscription_cycle",
        period=period,
        now=at,
        recurring=specs,
        invoice_period=ended,
    )
    declined = invoice_pay(store, invoice, now=at)
    sub["status"] = "past_due" if declined else "active"
    sub_update_event(store, sub, before=before)


def sub_boundary_time(sub: dict[str, Any]) -> int | None:
    if sub["status"] not in ("active", "trialing", "past_due"):
        return None
    end = sub["_period"][1]
    if sub["cancel_at"] is not None and sub["cancel_at"] < end:
        return sub["cancel_at"]
    return end


# ---------------------------------------------------------------------------- schedules


def phase_specs(store: Store, sub: dict[str, Any], phase: dict[str, Any]) -> list[ItemSpec]:
    """Map a phase's items onto the subscription's items, reusing ids for same prices."""
    existing = {i["price"]: i["id"] for i in sub_items(store, sub)}
    specs = []
    for item in phase["items"]:
        specs.append(
            ItemSpec(
                item_id=existing.pop(item["price"], None),
                price_id=item["price"],
                quantity=item["quantity"],
                metadata=item["metadata"],
            )
        )
    # Unmatched items keep their ids when the count lines up (a price swap), as Stripe does.
    leftovers = list(existing.values())
    return [
        ItemSpec(
            item_id=leftovers.pop(0) if s.item_id is None and leftovers else s.item_id,
            price_id=s.price_id,
            quantity=s.quantity,
            metadata=s.metadata,
        )
        for s in specs
    ]


def schedule_current_phase(schedule: dict[str, Any], *, at: int) -> dict[str, Any] | None:
    for phase in schedule["phases"]:
        if phase["start_date"] <= at < phase["end_date"]:
            return phase
    return None


def schedule_refresh(schedule: dict[str, Any], *, at: int) -> None:
    phase = schedule_current_phase(schedule, at=at)
    schedule["current_phase"] = (
        {"start_date": phase["start_date"], "end_date": phase["end_date"]} if phase else None
    )


def schedule_advance(
    store: Store, schedule: dict[str, Any], *, sub: dict[str, Any], at: int
) -> str:
    """At a period boundary `at`: switch to the next phase, or end the schedule."""
    phase = schedule_current_phase(schedule, at=at)
    if phase is not None and phase["start_date"] != at:
        return "unchanged"  # a multi-period phase simply renews
    if phase is not None:
        specs = phase_specs(store, sub, phase)
        apply_specs(store, sub, specs=specs, now=at)
        schedule_refresh(schedule, at=at)
        store.emit("subscription_schedule.updated", schedule)
        return "phase"
    last_end = schedule["phases"][-1]["end_date"] if schedule["phases"] else at
    if at < last_end:
        return "unchanged"
    if schedule["end_behavior"] == "cancel":
        schedule.update(status="completed", completed_at=at, current_phase=None)
        sub["schedule"] = None
        store.emit("subscription_schedule.completed", schedule)
        sub_cancel(store, sub, now=at, reason="cancellation_requested")
        return "canceled"
    schedule_release(store, schedule, sub=sub, now=at)
    return "released"


def schedule_release(
    store: Store, schedule: dict[str, Any], *, sub: dict[str, Any] | None, now: int
) -> None:
    schedule.update(
        status="released",
        released_at=now,
        released_subscription=sub["id"] if sub else None,
        subscription=None,
        current_phase=None,
    )
    if sub is not None:
        sub["schedule"] = None
    store.emit("subscription_schedule.released", schedule)


# ---------------------------------------------------------------------------- clocks


def clock_advance(store: Store, clock: dict[str, Any], *, to: int) -> None:
    """Process every boundary up to `to`, in time order, each at its own timestamp."""
    customers = {c["id"] for c in store.all("customer") if c["test_clock"] == clock["id"]}
    for _ in range(10_000):  # bounded: a runaway loop is a bug, not a hang
        due: list[tuple[int, int, dict[str, Any]]] = []
        for sub in store.all("subscription"):
            if sub["customer"] not in customers:
                continue
            boundary = sub_boundary_time(sub)
            if boundary is not None and boundary <= to:
                due.append((boundary, store.sequence[sub["id"]], sub))
        if not due:
            break
        at, _, sub = min(due, key=lambda d: (d[0], d[1]))
        clock["frozen_time"] = max(clock["frozen_time"], at)
        if sub["cancel_at"] is not None and at == sub["cancel_at"] and at < sub["_period"][1]:
            # `cancel_at` inside a period cancels there (no prorations in the emulator).
            sub_cancel(store, sub, now=at, reason="cancellation_requested")
        else:
            sub_renew(store, sub, at=at)
    clock["frozen_time"] = to
