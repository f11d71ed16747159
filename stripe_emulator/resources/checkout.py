"""Checkout Sessions (mode=subscription) and billing portal sessions.

The session's `url` is a page served by the emulator (see `server.py`). Its Pay button
and the control API both call `checkout_complete`, which checks the card before it
creates anything, so a declined card leaves no customer or subscription behind.
"""

from __future__ import annotations

import time
from typing import Any

from stripe_emulator import billing, shapes
from stripe_emulator.errors import StripeError
from stripe_emulator.resources.core import payment_method_new
from stripe_emulator.resources.subscriptions import specs_from_create, subscription_start
from stripe_emulator.routing import Call, list_response, respond, route
from stripe_emulator.store import Store

KIND = "checkout.session"


@route(
    "POST",
    "/v1/checkout/sessions",
    "checkout.SessionCreateParams",
    {
        "mode",
        "line_items",
        "success_url",
        "cancel_url",
        "customer",
        "customer_email",
        "client_reference_id",
        "subscription_data",
        "locale",
        "payment_method_types",
    },
)
def session_create(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    if params.get("mode") != "subscription":
        raise StripeError.invalid(
            message="The Stripe emulator supports mode=subscription only.", param="mode"
        )
    if not params.get("success_url"):
        raise StripeError.invalid(
            message="Missing required param: success_url.",
            param="success_url",
            code="parameter_missing",
        )
    if params.get("customer"):
        store.get(params["customer"], kind="customer", param="customer")
        if params.get("customer_email"):
            raise StripeError.invalid(
                message="You may only specify one of these parameters: customer, customer_email.",
                param="customer_email",
            )
    for index, item in enumerate(params.get("line_items") or []):
        if item.get("quantity") is not None and item["quantity"] < 1:
            raise StripeError.invalid(
                message="Quantity must be at least 1.", param=f"line_items[{index}][quantity]"
            )
    specs = specs_from_create(store, _line_items(params))
    sub_data = params.get("subscription_data") or {}
    unsupported = set(sub_data) - {"metadata", "trial_period_days", "description"}
    if unsupported:
        key = sorted(unsupported)[0]
        raise StripeError.invalid(
            message="The Stripe emulator does not implement the parameter: "
            f"subscription_data[{key}].",
            param=f"subscription_data[{key}]",
            code="parameter_unknown",
        )
    session_id = store.new_id("cs_test_")
    now = store.now_for_customer(params.get("customer"))
    amount = sum((store.objects[s.price_id]["unit_amount"] or 0) * s.quantity for s in specs)
    session = shapes.checkout_session(
        session_id=session_id,
        created=now,
        params=params,
        url=f"{store.base_url}/checkout/{session_id}",
        amount_total=amount,
        currency=store.objects[specs[0].price_id]["currency"],
    )
    session["_line_items"] = [{"price": s.price_id, "quantity": s.quantity} for s in specs]
    session["_subscription_data"] = sub_data
    store.put(session)
    return respond(call, session)


def _line_items(params: dict[str, Any]) -> list[dict[str, Any]]:
    items = params.get("line_items") or []
    if not items:
        raise StripeError.invalid(
            message="Missing required param: line_items.",
            param="line_items",
            code="parameter_missing",
        )
    return [{"price": i.get("price"), "quantity": i.get("quantity", 1)} for i in items]


@route("GET", "/v1/checkout/sessions/{id}", "checkout.SessionRetrieveParams")
def session_retrieve(call: Call) -> dict[str, Any]:
    return respond(call, call.store.get(call.ids["id"], kind=KIND))


@route(
    "GET",
    "/v1/checkout/sessions",
    "checkout.SessionListParams",
    {"customer", "subscription", "status", "limit", "starting_after", "ending_before"},
)
def session_list(call: Call) -> dict[str, Any]:
    params = call.params
    found = [
        s
        for s in call.store.all(KIND)
        if params.get("customer") in (None, s["customer"])
        and params.get("subscription") in (None, s["subscription"])
        and params.get("status") in (None, s["status"])
    ]
    return list_response(call, found, url="/v1/checkout/sessions")


@route(
    "GET",
    "/v1/checkout/sessions/{id}/line_items",
    "checkout.SessionListLineItemsParams",
    {"limit", "starting_after", "ending_before"},
)
def session_line_items(call: Call) -> dict[str, Any]:
    session = call.store.get(call.ids["id"], kind=KIND)
    return list_response(
        call,
        call.store.checkout_line_items(session["id"])["data"],
        url=f"/v1/checkout/sessions/{session['id']}/line_items",
    )


@route("POST", "/v1/checkout/sessions/{id}/expire", "checkout.SessionExpireParams", set())
def session_expire(call: Call) -> dict[str, Any]:
    session = call.store.get(call.ids["id"], kind=KIND)
    if session["status"] != "open":
        raise StripeError.invalid(
            message=f'Only Checkout Sessions with a status in ["open"] can be expired. This '
            f'Checkout Session has a status of "{session["status"]}".',
        )
    session["status"] = "expired"
    call.store.emit("checkout.session.expired", session)
    return respond(call, session)


def checkout_complete(
    store: Store, *, session_id: str, card: str, email: str | None = None
) -> dict[str, Any]:
    """Pay a session as its hosted page would; raises `StripeError` on a decline."""
    session = store.get(session_id, kind=KIND)
    if session["status"] != "open":
        raise StripeError.invalid(
            message=f"This Checkout Session is {session['status']} and can no longer be paid."
        )
    number = card.replace(" ", "")
    trial = bool((session["_subscription_data"] or {}).get("trial_period_days"))
    # Check the card first: both the attach and (unless on trial) the first charge.
    billing.card_check(number=number, stage="attach" if trial else "charge")
    email = email or session["customer_email"]
    customer_id = session["customer"]
    if customer_id is None:
        if not email:
            raise StripeError.invalid(message="An email address is required.", param="email")
        cust = shapes.customer(
            customer_id=store.new_id("cus_"),
            created=int(time.time()),
            params={"email": email},
            test_clock=None,
        )
        store.put(cust)
        store.emit("customer.created", cust)
        customer_id = cust["id"]
    cust = store.objects[customer_id]
    pm = payment_method_new(store, number=number, billing_details={"email": cust["email"]})
    pm["customer"] = customer_id
    store.emit("payment_method.attached", pm)
    sub_data = session["_subscription_data"] or {}
    specs = specs_from_create(store, session["_line_items"])
    sub = subscription_start(
        store,
        customer_id=customer_id,
        specs=specs,
        params={
            "default_payment_method": pm["id"],
            "metadata": sub_data.get("metadata") or {},
            "trial_period_days": sub_data.get("trial_period_days"),
            "description": sub_data.get("description"),
            "payment_behavior": "error_if_incomplete",
        },
    )
    invoice = store.objects[sub["latest_invoice"]]
    session.update(
        status="complete",
        payment_status="paid" if invoice["amount_due"] else "no_payment_required",
        customer=customer_id,
        subscription=sub["id"],
        invoice=invoice["id"],
        customer_details={
            "address": None,
            "business_name": None,
            "email": cust["email"],
            "individual_name": None,
            "name": cust["name"],
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
    )
    store.emit("checkout.session.completed", session)
    return session


def success_redirect(session: dict[str, Any]) -> str:
    return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])


@route(
    "POST",
    "/v1/billing_portal/sessions",
    "billing_portal.SessionCreateParams",
    {"customer", "return_url", "locale"},
)
def portal_session_create(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    if not params.get("customer"):
        raise StripeError.invalid(
            message="Missing required param: customer.",
            param="customer",
            code="parameter_missing",
        )
    store.get(params["customer"], kind="customer", param="customer")
    session_id = store.new_id("bps_")
    session = shapes.portal_session(
        session_id=session_id,
        created=store.now_for_customer(params["customer"]),
        customer_id=params["customer"],
        return_url=params.get("return_url"),
        url=f"{store.base_url}/portal/{session_id}",
    )
    store.put(session)
    return respond(call, session)
