"""Subscriptions and subscription items: create, change (with prorations and payment
behaviours), cancel. The item-change path is shared by subscription modify, the item
endpoints and schedule phases, so all three prorate and charge identically.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator import billing, shapes
from stripe_emulator.billing import ItemSpec
from stripe_emulator.errors import StripeError
from stripe_emulator.routing import Call, list_response, respond, route, update_metadata
from stripe_emulator.store import Store

PRORATION_BEHAVIORS = ("create_prorations", "none", "always_invoice")
PAYMENT_BEHAVIORS = (
    "allow_incomplete",
    "error_if_incomplete",
    "pending_if_incomplete",
    "default_incomplete",
)
LIVE_STATUSES = ("active", "trialing", "past_due", "incomplete")


def _choice(value: Any, *, allowed: tuple[str, ...], param: str, default: str) -> str:
    if value is None:
        return default
    if value not in allowed:
        raise StripeError.invalid(
            message=f"Invalid {param}: must be one of {', '.join(allowed)}", param=param
        )
    return value


def _metadata(value: Any) -> dict[str, str]:
    return {k: str(v) for k, v in (value or {}).items()} if value != "" else {}


def specs_from_create(store: Store, items: list[dict[str, Any]]) -> list[ItemSpec]:
    if not items:
        raise StripeError.invalid(
            message="Missing required param: items.", param="items", code="parameter_missing"
        )
    specs = []
    for index, item in enumerate(items):
        specs.append(_new_spec(store, item, index=index))
    billing.check_same_interval(store, specs)
    return specs


def _new_spec(store: Store, item: dict[str, Any], *, index: int) -> ItemSpec:
    if item.get("price_data"):
        raise StripeError.invalid(
            message="The Stripe emulator does not implement price_data; create a price first.",
            param=f"items[{index}][price_data]",
        )
    if not item.get("price"):
        raise StripeError.invalid(
            message=f"Missing required param: items[{index}][price].",
            param=f"items[{index}][price]",
            code="parameter_missing",
        )
    billing.recurring_price(store, item["price"], param=f"items[{index}][price]")
    quantity = billing.check_quantity(item.get("quantity", 1), param=f"items[{index}][quantity]")
    return ItemSpec(
        item_id=None,
        price_id=item["price"],
        quantity=quantity,
        metadata=_metadata(item.get("metadata")),
    )


def specs_from_update(
    store: Store, sub: dict[str, Any], items: list[dict[str, Any]]
) -> list[ItemSpec]:
    """Stripe's update semantics: listed ids change, `deleted` removes, no id adds."""
    current = {s.item_id: s for s in billing.current_specs(store, sub)}
    order = list(current)
    added: list[ItemSpec] = []
    for index, item in enumerate(items):
        item_id = item.get("id")
        if item_id is None:
            added.append(_new_spec(store, item, index=index))
            continue
        if item_id not in current:
            raise StripeError.invalid(
                message=f"Subscription item {item_id} is not part of subscription {sub['id']}.",
                param=f"items[{index}][id]",
            )
        if item.get("deleted"):
            order.remove(item_id)
            continue
        before = current[item_id]
        price_id = item.get("price") or before.price_id
        if item.get("price"):
            billing.recurring_price(store, price_id, param=f"items[{index}][price]")
        quantity = before.quantity
        if "quantity" in item:
            quantity = billing.check_quantity(item["quantity"], param=f"items[{index}][quantity]")
        metadata = dict(before.metadata)
        if "metadata" in item:
            metadata.update(_metadata(item["metadata"]))
        current[item_id] = ItemSpec(
            item_id=item_id, price_id=price_id, quantity=quantity, metadata=metadata
        )
    specs = [current[i] for i in order] + added
    if not specs:
        raise StripeError.invalid(
            message="A subscription must keep at least one item.", param="items"
        )
    billing.check_same_interval(store, specs)
    return specs


def _period_for(store: Store, specs: list[ItemSpec], *, start: int) -> tuple[int, int]:
    interval, count = billing.price_interval(store.objects[specs[0].price_id])
    return start, billing.add_interval(start=start, interval=interval, count=count)


def payment_precheck(store: Store, *, customer_id: str, sub: dict[str, Any] | None) -> None:
    """Raise the decline a charge would meet, without changing anything."""
    pm_id = (sub or {}).get("default_payment_method") or store.objects[customer_id][
        "invoice_settings"
    ]["default_payment_method"]
    pm = store.find(pm_id, kind="payment_method")
    if pm is None:
        raise StripeError.invalid(
            message="This customer has no attached payment source or default payment method. "
            "Please consider adding a default payment method.",
            code="resource_missing",
        )
    billing.card_check(number=pm["_number"], stage="charge")


def subscription_start(
    store: Store,
    *,
    customer_id: str,
    specs: list[ItemSpec],
    params: dict[str, Any],
) -> dict[str, Any]:
    """Create a subscription with its first invoice, following `payment_behavior`."""
    now = store.now_for_customer(customer_id)
    payment_behavior = _choice(
        params.get("payment_behavior"),
        allowed=PAYMENT_BEHAVIORS,
        param="payment_behavior",
        default="allow_incomplete",
    )
    if payment_behavior == "pending_if_incomplete":
        raise StripeError.invalid(
            message="payment_behavior=pending_if_incomplete is only supported when updating "
            "a subscription.",
            param="payment_behavior",
        )
    trial_end = _trial_end(store, specs, params=params, now=now)
    customer_obj = store.objects[customer_id]
    if params.get("default_payment_method"):
        pm = store.get(
            params["default_payment_method"],
            kind="payment_method",
            param="default_payment_method",
        )
        if pm["customer"] != customer_id:
            raise StripeError.invalid(
                message="The payment method must be attached to the customer.",
                param="default_payment_method",
            )
    if payment_behavior == "error_if_incomplete" and trial_end is None:
        payment_precheck(store, customer_id=customer_id, sub=params)
    sub = shapes.subscription(
        sub_id=store.new_id("sub_"),
        created=now,
        customer_id=customer_id,
        currency=store.objects[specs[0].price_id]["currency"],
        params=params,
        test_clock=customer_obj["test_clock"],
    )
    interval = billing.price_interval(store.objects[specs[0].price_id])
    sub["_interval"] = interval
    sub["_item_ids"] = []
    sub["_period"] = (now, trial_end) if trial_end else _period_for(store, specs, start=now)
    store.put(sub)
    billing.apply_specs(store, sub, specs=specs, now=now)
    specs = billing.current_specs(store, sub)
    if trial_end:
        sub.update(status="trialing", trial_start=now, trial_end=trial_end)
    store.emit("customer.subscription.created", sub)
    before = store.render(sub)
    invoice = billing.invoice_create_for_items(
        store,
        sub=sub,
        billing_reason="subscription_create",
        period=sub["_period"],
        now=now,
        recurring=specs,
        trial=bool(trial_end),
    )
    if trial_end:
        billing.invoice_pay(store, invoice, now=now)
    elif payment_behavior != "default_incomplete":
        declined = billing.invoice_pay(store, invoice, now=now)
        sub["status"] = "incomplete" if declined else "active"
    if params.get("cancel_at_period_end"):
        sub.update(cancel_at_period_end=True, cancel_at=sub["_period"][1], canceled_at=now)
    billing.sub_update_event(store, sub, before=before)
    return sub


def _trial_end(
    store: Store, specs: list[ItemSpec], *, params: dict[str, Any], now: int
) -> int | None:
    if params.get("trial_end") not in (None, "now"):
        trial_end = params["trial_end"]
        if not isinstance(trial_end, int) or trial_end <= now:
            raise StripeError.invalid(
                message="Invalid timestamp: must be an integer Unix timestamp in the future.",
                param="trial_end",
            )
        return trial_end
    days = params.get("trial_period_days")
    if days is None and params.get("trial_from_plan"):
        days = store.objects[specs[0].price_id]["recurring"]["trial_period_days"]
    if days is None or days == 0:
        return None
    if days < 0 or days > 730:
        raise StripeError.invalid(
            message="trial_period_days must be between 1 and 730.", param="trial_period_days"
        )
    return now + days * 86400


_CREATE = {
    "customer", "items", "trial_period_days", "trial_end", "trial_from_plan",
    "default_payment_method", "payment_behavior", "proration_behavior", "cancel_at_period_end",
    "collection_method", "description", "days_until_due", "off_session",
}  # fmt: skip


@route("POST", "/v1/subscriptions", "SubscriptionCreateParams", _CREATE)
def subscription_create(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    if not params.get("customer"):
        raise StripeError.invalid(
            message="Missing required param: customer.",
            param="customer",
            code="parameter_missing",
        )
    store.get(params["customer"], kind="customer", param="customer")
    specs = specs_from_create(store, params.get("items") or [])
    sub = subscription_start(store, customer_id=params["customer"], specs=specs, params=params)
    return respond(call, sub)


@route("GET", "/v1/subscriptions/{id}", "SubscriptionRetrieveParams")
def subscription_retrieve(call: Call) -> dict[str, Any]:
    return respond(call, call.store.get(call.ids["id"], kind="subscription"))


@route(
    "GET",
    "/v1/subscriptions",
    "SubscriptionListParams",
    {"customer", "status", "price", "test_clock", "limit", "starting_after", "ending_before"},
)
def subscription_list(call: Call) -> dict[str, Any]:
    params, store = call.params, call.store
    status = params.get("status")

    def matches(sub: dict[str, Any]) -> bool:
        if status is None and sub["status"] == "canceled":
            return False  # Stripe hides canceled subscriptions unless asked
        if status not in (None, "all") and sub["status"] != status:
            return False
        if params.get("price") and params["price"] not in {
            i["price"] for i in billing.sub_items(store, sub)
        }:
            return False
        return params.get("customer") in (None, sub["customer"]) and params.get("test_clock") in (
            None,
            sub["test_clock"],
        )

    found = [s for s in store.all("subscription") if matches(s)]
    return list_response(call, found, url="/v1/subscriptions")


def subscription_change(
    store: Store,
    sub: dict[str, Any],
    *,
    specs: list[ItemSpec],
    proration_behavior: str,
    payment_behavior: str,
    proration_date: int | None,
) -> None:
    """Change items now, prorating and charging as Stripe does for each behaviour."""
    now = store.now_for_customer(sub["customer"])
    old = billing.current_specs(store, sub)
    if [(s.item_id, s.price_id, s.quantity) for s in old] == [
        (s.item_id, s.price_id, s.quantity) for s in specs
    ]:
        billing.apply_specs(store, sub, specs=specs, now=now)  # metadata only
        return
    at = now if proration_date is None else proration_date
    start, end = sub["_period"]
    if not start <= at <= end:
        raise StripeError.invalid(
            message="proration_date must be within the current billing period.",
            param="proration_date",
        )
    new_interval = billing.price_interval(store.objects[specs[0].price_id])
    if new_interval != sub["_interval"]:
        _change_interval(
            store,
            sub,
            specs=specs,
            old=old,
            now=now,
            proration_behavior=proration_behavior,
            payment_behavior=payment_behavior,
        )
        return
    items = (
        billing.proration_items(store, sub, old=old, new=specs, at=at)
        if proration_behavior != "none"
        else []
    )
    if proration_behavior != "always_invoice" or not items:
        for item in items:
            store.put(item)
            store.emit("invoiceitem.created", item)
        billing.apply_specs(store, sub, specs=specs, now=now)
        return
    if payment_behavior == "error_if_incomplete" and sum(i["amount"] for i in items) > 0:
        payment_precheck(store, customer_id=sub["customer"], sub=sub)
    for item in items:
        store.put(item)
        store.emit("invoiceitem.created", item)
    if payment_behavior == "pending_if_incomplete":
        invoice = billing.invoice_create_for_items(
            store,
            sub=sub,
            billing_reason="subscription_update",
            period=(at, at),
            now=now,
            recurring=[],
        )
        declined = billing.invoice_pay(store, invoice, now=now)
        if declined:
            sub["_pending_specs"] = specs
            sub["_pending_invoice"] = invoice["id"]
            sub["pending_update"] = _pending_update(store, sub, specs=specs, now=now)
            return
        billing.apply_specs(store, sub, specs=specs, now=now)
        return
    billing.apply_specs(store, sub, specs=specs, now=now)
    invoice = billing.invoice_create_for_items(
        store,
        sub=sub,
        billing_reason="subscription_update",
        period=(at, at),
        now=now,
        recurring=[],
    )
    if payment_behavior != "default_incomplete":
        declined = billing.invoice_pay(store, invoice, now=now)
        if declined and sub["status"] == "active":
            sub["status"] = "past_due"


def _pending_update(
    store: Store, sub: dict[str, Any], *, specs: list[ItemSpec], now: int
) -> dict[str, Any]:
    return {
        "billing_cycle_anchor": None,
        "discounts": None,
        "expires_at": now + 23 * 3600,
        "subscription_items": [
            {
                **store.render(store.objects[s.item_id]),
                "price": store.render(store.objects[s.price_id]),
                "quantity": s.quantity,
            }
            if s.item_id
            else {
                "id": None,
                "object": "subscription_item",
                "quantity": s.quantity,
                "price": store.render(store.objects[s.price_id]),
            }
            for s in specs
        ],
        "trial_end": None,
        "trial_from_plan": None,
    }


def pending_update_apply(store: Store, sub: dict[str, Any], *, now: int) -> None:
    """The invoice behind a pending update got paid: the update finally takes effect."""
    specs = sub.pop("_pending_specs")
    sub.pop("_pending_invoice", None)
    sub["pending_update"] = None
    billing.apply_specs(store, sub, specs=specs, now=now)


def _change_interval(
    store: Store,
    sub: dict[str, Any],
    *,
    specs: list[ItemSpec],
    old: list[ItemSpec],
    now: int,
    proration_behavior: str,
    payment_behavior: str,
) -> None:
    """A new interval resets the billing anchor to now and invoices the new period at once."""
    credits = (
        billing.proration_items(store, sub, old=old, new=[], at=now)
        if proration_behavior != "none"
        else []
    )
    if payment_behavior == "error_if_incomplete":
        payment_precheck(store, customer_id=sub["customer"], sub=sub)
    for item in credits:
        store.put(item)
    billing.apply_specs(store, sub, specs=specs, now=now)
    sub["_interval"] = billing.price_interval(store.objects[specs[0].price_id])
    sub["billing_cycle_anchor"] = now
    period = _period_for(store, specs, start=now)
    billing.set_period(store, sub, period=period)
    invoice = billing.invoice_create_for_items(
        store,
        sub=sub,
        billing_reason="subscription_update",
        period=period,
        now=now,
        recurring=billing.current_specs(store, sub),
    )
    if payment_behavior != "default_incomplete" and billing.invoice_pay(store, invoice, now=now):
        sub["status"] = "past_due"


_MODIFY = {
    "items", "proration_behavior", "proration_date", "payment_behavior", "cancel_at_period_end",
    "cancel_at", "default_payment_method", "trial_end", "description", "off_session",
    "cancellation_details",
}  # fmt: skip


@route("POST", "/v1/subscriptions/{id}", "SubscriptionModifyParams", _MODIFY)
def subscription_modify(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    sub = store.get(call.ids["id"], kind="subscription")
    if sub["status"] == "canceled" and set(params) - {"metadata", "expand", "cancellation_details"}:
        raise StripeError.invalid(
            message="A canceled subscription can only update its cancellation_details and metadata."
        )
    proration_behavior = _choice(
        params.get("proration_behavior"),
        allowed=PRORATION_BEHAVIORS,
        param="proration_behavior",
        default="create_prorations",
    )
    payment_behavior = _choice(
        params.get("payment_behavior"),
        allowed=PAYMENT_BEHAVIORS,
        param="payment_behavior",
        default="allow_incomplete",
    )
    specs = specs_from_update(store, sub, params["items"]) if "items" in params else None
    if sub["schedule"] and {"cancel_at_period_end", "cancel_at"} & set(params):
        # Stripe refuses cancellation changes on a scheduled subscription (the schedule's
        # end_behavior owns them); item changes are allowed and handled below.
        raise StripeError.invalid(
            message=f"The subscription is managed by the subscription schedule "
            f"`{sub['schedule']}`, and updating any cancelation behavior directly is not "
            "allowed. Please update the schedule instead.",
            param="cancel_at_period_end" if "cancel_at_period_end" in params else "cancel_at",
        )
    if params.get("default_payment_method"):
        pm = store.get(
            params["default_payment_method"], kind="payment_method", param="default_payment_method"
        )
        if pm["customer"] != sub["customer"]:
            raise StripeError.invalid(
                message="The payment method must be attached to the customer.",
                param="default_payment_method",
            )
    if sub["pending_update"] and specs is not None:
        raise StripeError.invalid(
            message="This subscription has a pending update; pay or void its invoice first.",
            param="items",
        )
    now = store.now_for_customer(sub["customer"])
    before = store.render(sub)
    if specs is not None:
        subscription_change(
            store,
            sub,
            specs=specs,
            proration_behavior=proration_behavior,
            payment_behavior=payment_behavior,
            proration_date=params.get("proration_date"),
        )
    if specs is not None and sub["schedule"]:
        _schedule_follow_items(store, sub, now=now)
    if "default_payment_method" in params:
        sub["default_payment_method"] = params["default_payment_method"] or None
    if "description" in params:
        sub["description"] = params["description"] or None
    if "cancel_at_period_end" in params:
        flag = params["cancel_at_period_end"]
        sub.update(
            cancel_at_period_end=flag,
            cancel_at=sub["_period"][1] if flag else None,
            canceled_at=now if flag else None,
        )
    if "cancel_at" in params:
        value = params["cancel_at"]
        if value in ("", None):
            sub.update(cancel_at=None, cancel_at_period_end=False, canceled_at=None)
        elif not isinstance(value, int) or value <= now:
            raise StripeError.invalid(
                message="cancel_at must be a Unix timestamp in the future.", param="cancel_at"
            )
        else:
            sub.update(
                cancel_at=value, canceled_at=now, cancel_at_period_end=value == sub["_period"][1]
            )
    if params.get("trial_end") == "now" and sub["status"] == "trialing":
        _trial_end_now(store, sub, now=now)
    for key, value in (params.get("cancellation_details") or {}).items():
        sub["cancellation_details"][key] = value or None
    update_metadata(sub, params.get("metadata"))
    billing.sub_update_event(store, sub, before=before)
    return respond(call, sub)


def _schedule_follow_items(store: Store, sub: dict[str, Any], *, now: int) -> None:
    """A direct item change on a scheduled subscription rewrites the schedule's current
    phase; later phases still take effect at their boundaries, as in Stripe."""
    schedule = store.find(sub["schedule"], kind="subscription_schedule")
    phase = billing.schedule_current_phase(schedule, at=now) if schedule else None
    if phase is None:
        return
    phase["items"] = [
        {
            "billing_thresholds": None,
            "discounts": [],
            "metadata": dict(item["metadata"]),
            "plan": item["price"],
            "price": item["price"],
            "quantity": item["quantity"],
            "tax_rates": [],
        }
        for item in billing.sub_items(store, sub)
    ]
    store.emit("subscription_schedule.updated", schedule)


def _trial_end_now(store: Store, sub: dict[str, Any], *, now: int) -> None:
    sub.update(trial_end=now, status="active", billing_cycle_anchor=now)
    specs = billing.current_specs(store, sub)
    period = _period_for(store, specs, start=now)
    billing.set_period(store, sub, period=period)
    invoice = billing.invoice_create_for_items(
        store,
        sub=sub,
        billing_reason="subscription_cycle",
        period=period,
        now=now,
        recurring=specs,
    )
    if billing.invoice_pay(store, invoice, now=now):
        sub["status"] = "past_due"


@route(
    "DELETE",
    "/v1/subscriptions/{id}",
    "SubscriptionCancelParams",
    {"invoice_now", "prorate", "cancellation_details"},
)
def subscription_cancel(call: Call) -> dict[str, Any]:
    store = call.store
    sub = store.get(call.ids["id"], kind="subscription")
    if sub["status"] == "canceled":
        raise StripeError.invalid(
            message=f"The subscription {sub['id']} has already been canceled.",
            code="resource_missing",
        )
    for key, value in (call.params.get("cancellation_details") or {}).items():
        sub["cancellation_details"][key] = value or None
    billing.sub_cancel(
        store, sub, now=store.now_for_customer(sub["customer"]), reason="cancellation_requested"
    )
    return respond(call, sub)


# ------------------------------------------------------------------------------ items


def _item_parent(call: Call, item: dict[str, Any]) -> dict[str, Any]:
    return call.store.objects[item["subscription"]]


def _behaviours(params: dict[str, Any]) -> tuple[str, str]:
    return (
        _choice(
            params.get("proration_behavior"),
            allowed=PRORATION_BEHAVIORS,
            param="proration_behavior",
            default="create_prorations",
        ),
        _choice(
            params.get("payment_behavior"),
            allowed=PAYMENT_BEHAVIORS,
            param="payment_behavior",
            default="allow_incomplete",
        ),
    )


def _item_change(call: Call, sub: dict[str, Any], items_param: list[dict[str, Any]]) -> None:
    store = call.store
    if sub["status"] not in LIVE_STATUSES:
        raise StripeError.invalid(message="The subscription is canceled.", param="subscription")
    proration_behavior, payment_behavior = _behaviours(call.params)
    specs = specs_from_update(store, sub, items_param)
    before = store.render(sub)
    subscription_change(
        store,
        sub,
        specs=specs,
        proration_behavior=proration_behavior,
        payment_behavior=payment_behavior,
        proration_date=call.params.get("proration_date"),
    )
    billing.sub_update_event(store, sub, before=before)


_ITEM = {"price", "quantity", "proration_behavior", "proration_date", "payment_behavior"}


@route("POST", "/v1/subscription_items", "SubscriptionItemCreateParams", _ITEM | {"subscription"})
def subscription_item_create(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    sub = store.get(params.get("subscription"), kind="subscription", param="subscription")
    known = set(sub["_item_ids"])
    _item_change(
        call, sub, [{k: params[k] for k in ("price", "quantity", "metadata") if k in params}]
    )
    new_id = next(i for i in sub["_item_ids"] if i not in known)
    return respond(call, store.objects[new_id])


@route("GET", "/v1/subscription_items/{id}", "SubscriptionItemRetrieveParams")
def subscription_item_retrieve(call: Call) -> dict[str, Any]:
    return respond(call, call.store.get(call.ids["id"], kind="subscription_item"))


@route("POST", "/v1/subscription_items/{id}", "SubscriptionItemModifyParams", _ITEM)
def subscription_item_modify(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    item = store.get(call.ids["id"], kind="subscription_item")
    change = {"id": item["id"]} | {
        k: params[k] for k in ("price", "quantity", "metadata") if k in params
    }
    _item_change(call, _item_parent(call, item), [change])
    return respond(call, item)


@route(
    "DELETE",
    "/v1/subscription_items/{id}",
    "SubscriptionItemDeleteParams",
    {"proration_behavior", "proration_date", "clear_usage"},
)
def subscription_item_delete(call: Call) -> dict[str, Any]:
    item = call.store.get(call.ids["id"], kind="subscription_item")
    _item_change(call, _item_parent(call, item), [{"id": item["id"], "deleted": True}])
    return {"id": item["id"], "object": "subscription_item", "deleted": True}


@route(
    "GET",
    "/v1/subscription_items",
    "SubscriptionItemListParams",
    {"subscription", "limit", "starting_after", "ending_before"},
)
def subscription_item_list(call: Call) -> dict[str, Any]:
    sub = call.store.get(call.params["subscription"], kind="subscription", param="subscription")
    items = billing.sub_items(call.store, sub)
    return list_response(call, items, url="/v1/subscription_items")
