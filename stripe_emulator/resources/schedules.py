"""Subscription schedules: create from a subscription, replace phases, release, cancel.

Phases are resolved to absolute `start_date`/`end_date` when they are written
(`duration`, or by default one interval of the phase's own price). The switch
itself happens in `billing.sub_renew` at the period boundary.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from stripe_emulator import billing, shapes
from stripe_emulator.errors import StripeError
from stripe_emulator.resources.subscriptions import (
    PRORATION_BEHAVIORS,
    _choice,
    specs_from_create,
    subscription_change,
    subscription_start,
)
from stripe_emulator.routing import Call, list_response, respond, route, update_metadata
from stripe_emulator.store import Store

END_BEHAVIORS = ("release", "cancel")


def _phase_from_sub(store: Store, sub: dict[str, Any]) -> dict[str, Any]:
    start, end = sub["_period"]
    return shapes.schedule_phase(
        start=start,
        end=end,
        currency=sub["currency"],
        items=[
            {"price": i["price"], "quantity": i["quantity"], "metadata": {}}
            for i in billing.sub_items(store, sub)
        ],
        proration_behavior="create_prorations",
        metadata={},
    )


def _resolve_phases(
    store: Store,
    *,
    phases: list[dict[str, Any]],
    first_start: int,
    currency: str,
    default_proration: str,
) -> list[dict[str, Any]]:
    """Turn the `phases` parameter into phases with absolute dates, checking each one."""
    if not phases:
        raise StripeError.invalid(
            message="Missing required param: phases.", param="phases", code="parameter_missing"
        )
    resolved: list[dict[str, Any]] = []
    start = first_start
    for index, phase in enumerate(phases):
        param = f"phases[{index}]"
        unsupported = set(phase) - {
            "items", "end_date", "duration", "start_date", "proration_behavior", "metadata",
        }  # fmt: skip
        if unsupported:
            key = sorted(unsupported)[0]
            raise StripeError.invalid(
                message=f"The Stripe emulator does not implement the parameter: {param}[{key}].",
                param=f"{param}[{key}]",
                code="parameter_unknown",
            )
        if index == 0 and phase.get("start_date") not in (None, "now", first_start):
            raise StripeError.invalid(
                message="You can not modify the start date of the current phase.",
                param=f"{param}[start_date]",
            )
        if index > 0 and phase.get("start_date") not in (None, start):
            raise StripeError.invalid(
                message="Phases must be contiguous: a phase starts where the previous ends.",
                param=f"{param}[start_date]",
            )
        specs = (
            specs_from_create(
                store, [dict(i, metadata=i.get("metadata")) for i in phase.get("items") or []]
            )
            if phase.get("items")
            else None
        )
        if specs is None:
            raise StripeError.invalid(
                message=f"Missing required param: {param}[items].",
                param=f"{param}[items]",
                code="parameter_missing",
            )
        interval, count = billing.price_interval(store.objects[specs[0].price_id])
        end = _phase_end(phase, start=start, interval=interval, count=count, param=param)
        resolved.append(
            shapes.schedule_phase(
                start=start,
                end=end,
                currency=currency,
                items=[
                    {"price": s.price_id, "quantity": s.quantity, "metadata": s.metadata}
                    for s in specs
                ],
                proration_behavior=_choice(
                    phase.get("proration_behavior"),
                    allowed=PRORATION_BEHAVIORS,
                    param=f"{param}[proration_behavior]",
                    default=default_proration,
                ),
                metadata=phase.get("metadata") or {},
            )
        )
        start = end
    return resolved


def _phase_end(phase: dict[str, Any], *, start: int, interval: str, count: int, param: str) -> int:
    """A phase ends at `end_date`, after `duration`, or (neither given) after one interval
    of its price, which is Stripe's default of a single iteration."""
    if phase.get("end_date") is not None and phase.get("duration") is not None:
        raise StripeError.invalid(
            message=f"You may only specify one of end_date or duration on {param}.",
            param=f"{param}[duration]",
        )
    if phase.get("end_date") is not None:
        end = phase["end_date"]
        if not isinstance(end, int) or end <= start:
            raise StripeError.invalid(
                message="The phase end_date must be after its start_date.",
                param=f"{param}[end_date]",
            )
        return end
    duration = phase.get("duration") or {"interval": interval, "interval_count": count}
    if duration["interval"] not in ("day", "week", "month", "year"):
        raise StripeError.invalid(
            message="duration[interval] must be one of day, week, month or year.",
            param=f"{param}[duration][interval]",
        )
    duration_count = duration.get("interval_count", 1)
    if duration_count < 1:
        raise StripeError.invalid(
            message="duration[interval_count] must be at least 1.",
            param=f"{param}[duration][interval_count]",
        )
    return billing.add_interval(start=start, interval=duration["interval"], count=duration_count)


def _check_boundaries(
    store: Store, sub: dict[str, Any], *, phases: list[dict[str, Any]], now: int
) -> None:
    """Phases must switch where a billing period ends.

    The emulator applies phases at period boundaries only (that is how seat billing uses
    schedules); a phase ending mid-period would need prorations it does not model, so it
    is refused instead of being applied late.
    """
    boundary = sub["_period"][1]
    anchor_day = dt.datetime.fromtimestamp(sub["billing_cycle_anchor"], tz=dt.UTC).day
    for index, phase in enumerate(phases):
        if phase["end_date"] <= now:
            continue
        price_obj = store.objects[phase["items"][0]["price"]]
        interval, count = billing.price_interval(price_obj)
        if index > 0 and (interval, count) != _phase_interval(store, phases[index - 1]):
            anchor_day = dt.datetime.fromtimestamp(phase["start_date"], tz=dt.UTC).day
        while boundary < phase["end_date"]:
            boundary = billing.add_interval(
                start=boundary, interval=interval, count=count, anchor_day=anchor_day
            )
        if boundary != phase["end_date"]:
            raise StripeError.invalid(
                message=f"The Stripe emulator switches phases at billing period ends only; "
                f"phases[{index}] ends at {phase['end_date']}, but a period ends at "
                f"{boundary}.",
                param=f"phases[{index}][end_date]",
            )


def _phase_interval(store: Store, phase: dict[str, Any]) -> tuple[str, int]:
    return billing.price_interval(store.objects[phase["items"][0]["price"]])


@route(
    "POST",
    "/v1/subscription_schedules",
    "SubscriptionScheduleCreateParams",
    {"from_subscription", "customer", "phases", "start_date", "end_behavior"},
)
def schedule_create(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    if params.get("from_subscription"):
        if set(params) & {"phases", "customer", "start_date", "end_behavior"}:
            raise StripeError.invalid(
                message="When from_subscription is set, you cannot set other parameters.",
                param="from_subscription",
            )
        sub = store.get(params["from_subscription"], kind="subscription", param="from_subscription")
        if sub["schedule"]:
            raise StripeError.invalid(
                message=f"You cannot migrate a subscription that is already attached to a "
                f"schedule: `{sub['schedule']}`.",
                param="from_subscription",
            )
        if sub["status"] == "canceled":
            raise StripeError.invalid(
                message="You cannot create a schedule from a canceled subscription.",
                param="from_subscription",
            )
        now = store.now_for_customer(sub["customer"])
        sched = _schedule_new(store, customer_id=sub["customer"], sub=sub, now=now)
        sched["phases"] = [_phase_from_sub(store, sub)]
        billing.schedule_refresh(sched, at=now)
        before = store.render(sub)
        sub["schedule"] = sched["id"]
        update_metadata(sched, params.get("metadata"))
        store.emit("subscription_schedule.created", sched)
        billing.sub_update_event(store, sub, before=before)
        return respond(call, sched)
    customer_id = params.get("customer")
    if not customer_id:
        raise StripeError.invalid(
            message="Missing required param: customer.",
            param="customer",
            code="parameter_missing",
        )
    store.get(customer_id, kind="customer", param="customer")
    now = store.now_for_customer(customer_id)
    if params.get("start_date") not in ("now", now):
        raise StripeError.invalid(
            message="The Stripe emulator supports start_date=now only.", param="start_date"
        )
    end_behavior = _choice(
        params.get("end_behavior"), allowed=END_BEHAVIORS, param="end_behavior", default="release"
    )
    phases_param = params.get("phases") or []
    first_items = (phases_param[0].get("items") if phases_param else None) or []
    specs = specs_from_create(store, first_items)
    phases = _resolve_phases(
        store,
        phases=phases_param,
        first_start=now,
        currency=store.objects[specs[0].price_id]["currency"],
        default_proration="create_prorations",
    )
    sub = subscription_start(store, customer_id=customer_id, specs=specs, params={})
    sched = _schedule_new(store, customer_id=customer_id, sub=sub, now=now)
    sched.update(phases=phases, end_behavior=end_behavior)
    billing.schedule_refresh(sched, at=now)
    sub["schedule"] = sched["id"]
    update_metadata(sched, params.get("metadata"))
    store.emit("subscription_schedule.created", sched)
    return respond(call, sched)


def _schedule_new(
    store: Store, *, customer_id: str, sub: dict[str, Any], now: int
) -> dict[str, Any]:
    sched = shapes.schedule(
        schedule_id=store.new_id("sub_sched_"),
        created=now,
        customer_id=customer_id,
        sub_id=sub["id"],
        test_clock=store.objects[customer_id]["test_clock"],
    )
    return store.put(sched)


@route("GET", "/v1/subscription_schedules/{id}", "SubscriptionScheduleRetrieveParams")
def schedule_retrieve(call: Call) -> dict[str, Any]:
    return respond(call, call.store.get(call.ids["id"], kind="subscription_schedule"))


@route(
    "GET",
    "/v1/subscription_schedules",
    "SubscriptionScheduleListParams",
    {"customer", "scheduled", "limit", "starting_after", "ending_before"},
)
def schedule_list(call: Call) -> dict[str, Any]:
    found = [
        s
        for s in call.store.all("subscription_schedule")
        if call.params.get("customer") in (None, s["customer"])
    ]
    return list_response(call, found, url="/v1/subscription_schedules")


def _live_schedule(call: Call) -> dict[str, Any]:
    sched = call.store.get(call.ids["id"], kind="subscription_schedule")
    if sched["status"] not in ("active", "not_started"):
        raise StripeError.invalid(
            message=f"You cannot update a subscription schedule that is currently in the "
            f"`{sched['status']}` status. It must be in `not_started` or `active`.",
        )
    return sched


@route(
    "POST",
    "/v1/subscription_schedules/{id}",
    "SubscriptionScheduleModifyParams",
    {"phases", "end_behavior", "proration_behavior"},
)
def schedule_modify(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    sched = _live_schedule(call)
    sub = store.objects[sched["subscription"]]
    now = store.now_for_customer(sched["customer"])
    proration = _choice(
        params.get("proration_behavior"),
        allowed=PRORATION_BEHAVIORS,
        param="proration_behavior",
        default="create_prorations",
    )
    end_behavior = _choice(
        params.get("end_behavior"),
        allowed=END_BEHAVIORS,
        param="end_behavior",
        default=sched["end_behavior"],
    )
    phases = sched["phases"]
    if "phases" in params:
        current = billing.schedule_current_phase(sched, at=now)
        first_start = current["start_date"] if current else sub["_period"][0]
        phases = _resolve_phases(
            store,
            phases=params["phases"],
            first_start=first_start,
            currency=sub["currency"],
            default_proration=proration,
        )
        _check_boundaries(store, sub, phases=phases, now=now)
        if phases[-1]["end_date"] <= now:
            raise StripeError.invalid(
                message="The schedule must have a phase that ends in the future.",
                param="phases",
            )
    before = store.render(sub)
    sched.update(phases=phases, end_behavior=end_behavior)
    update_metadata(sched, params.get("metadata"))
    billing.schedule_refresh(sched, at=now)
    current = billing.schedule_current_phase(sched, at=now)
    if current is not None:
        # Editing the current phase's items changes the subscription now, prorated.
        specs = billing.phase_specs(store, sub, current)
        subscription_change(
            store,
            sub,
            specs=specs,
            proration_behavior=proration,
            payment_behavior="allow_incomplete",
            proration_date=None,
        )
    store.emit("subscription_schedule.updated", sched)
    billing.sub_update_event(store, sub, before=before)
    return respond(call, sched)


@route(
    "POST",
    "/v1/subscription_schedules/{id}/release",
    "SubscriptionScheduleReleaseParams",
    {"preserve_cancel_date"},
)
def schedule_release(call: Call) -> dict[str, Any]:
    store = call.store
    sched = _live_schedule(call)
    sub = store.find(sched["subscription"], kind="subscription")
    before = store.render(sub) if sub else None
    billing.schedule_release(store, sched, sub=sub, now=store.now_for_customer(sched["customer"]))
    if sub is not None and before is not None:
        billing.sub_update_event(store, sub, before=before)
    return respond(call, sched)


@route(
    "POST",
    "/v1/subscription_schedules/{id}/cancel",
    "SubscriptionScheduleCancelParams",
    {"invoice_now", "prorate"},
)
def schedule_cancel(call: Call) -> dict[str, Any]:
    store = call.store
    sched = _live_schedule(call)
    now = store.now_for_customer(sched["customer"])
    sub = store.find(sched["subscription"], kind="subscription")
    sched.update(status="canceled", canceled_at=now, current_phase=None)
    store.emit("subscription_schedule.canceled", sched)
    if sub is not None and sub["status"] != "canceled":
        billing.sub_cancel(store, sub, now=now, reason="cancellation_requested")
    return respond(call, sched)
