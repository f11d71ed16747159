"""Invoices, invoice items and `invoices/create_preview`.

Invoices are made by the billing engine (subscription create, renewal, immediate
prorations); here they are read, paid, voided, and previewed. A preview runs the same
proration code on a throwaway copy and never writes.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator import billing
from stripe_emulator.errors import StripeError
from stripe_emulator.resources.subscriptions import (
    PRORATION_BEHAVIORS,
    _choice,
    pending_update_apply,
    specs_from_create,
    specs_from_update,
)
from stripe_emulator.routing import Call, list_response, respond, route, update_metadata
from stripe_emulator.store import Store, random_token


def _sub_of(store: Store, invoice: dict[str, Any]) -> dict[str, Any] | None:
    sub_id = ((invoice["parent"] or {}).get("subscription_details") or {}).get("subscription")
    return store.find(sub_id, kind="subscription")


@route("GET", "/v1/invoices/{id}", "InvoiceRetrieveParams")
def invoice_retrieve(call: Call) -> dict[str, Any]:
    return respond(call, call.store.get(call.ids["id"], kind="invoice"))


@route(
    "GET",
    "/v1/invoices",
    "InvoiceListParams",
    {"customer", "subscription", "status", "limit", "starting_after", "ending_before"},
)
def invoice_list(call: Call) -> dict[str, Any]:
    params, store = call.params, call.store

    def matches(invoice: dict[str, Any]) -> bool:
        sub = _sub_of(store, invoice)
        return (
            params.get("customer") in (None, invoice["customer"])
            and params.get("status") in (None, invoice["status"])
            and params.get("subscription") in (None, sub["id"] if sub else None)
        )

    found = [i for i in store.all("invoice") if matches(i)]
    return list_response(call, found, url="/v1/invoices")


@route(
    "GET",
    "/v1/invoices/{id}/lines",
    "InvoiceListLinesParams",
    {"limit", "starting_after", "ending_before"},
)
def invoice_lines(call: Call) -> dict[str, Any]:
    invoice = call.store.get(call.ids["id"], kind="invoice")
    lines = [dict(line) for line in invoice["_lines"]]
    limit = call.params.get("limit", 10)
    return call.store.expand(
        {
            "object": "list",
            "data": lines[:limit],
            "has_more": len(lines) > limit,
            "url": f"/v1/invoices/{invoice['id']}/lines",
        },
        call.expand,
    )


@route("POST", "/v1/invoices/{id}", "InvoiceModifyParams", {"description", "auto_advance"})
def invoice_modify(call: Call) -> dict[str, Any]:
    invoice = call.store.get(call.ids["id"], kind="invoice")
    for key in ("description", "auto_advance"):
        if key in call.params:
            invoice[key] = call.params[key]
    update_metadata(invoice, call.params.get("metadata"))
    call.store.emit("invoice.updated", invoice)
    return respond(call, invoice)


@route("POST", "/v1/invoices/{id}/finalize", "InvoiceFinalizeInvoiceParams", {"auto_advance"})
def invoice_finalize(call: Call) -> dict[str, Any]:
    store = call.store
    invoice = store.get(call.ids["id"], kind="invoice")
    if invoice["status"] != "draft":
        raise StripeError.invalid(
            message="This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            code="invoice_not_editable",
        )
    billing.invoice_finalize(store, invoice, now=store.now_for_customer(invoice["customer"]))
    return respond(call, invoice)


@route(
    "POST",
    "/v1/invoices/{id}/pay",
    "InvoicePayParams",
    {"payment_method", "paid_out_of_band", "off_session"},
)
def invoice_pay(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    invoice = store.get(call.ids["id"], kind="invoice")
    if invoice["status"] == "paid":
        raise StripeError.invalid(message="Invoice is already paid", code="invoice_already_paid")
    if invoice["status"] == "void":
        raise StripeError.invalid(
            message="This invoice has been voided and can no longer be paid.",
            code="invoice_not_editable",
        )
    if params.get("payment_method"):
        pm = store.get(params["payment_method"], kind="payment_method", param="payment_method")
        if pm["customer"] != invoice["customer"]:
            raise StripeError.invalid(
                message="The payment method must be attached to the invoice's customer.",
                param="payment_method",
            )
    now = store.now_for_customer(invoice["customer"])
    if invoice["status"] == "draft":
        billing.invoice_finalize(store, invoice, now=now)
    sub = _sub_of(store, invoice)
    before = store.render(sub) if sub else None
    if params.get("paid_out_of_band"):
        invoice["amount_due"] = invoice["amount_remaining"]
        billing.invoice_mark_paid(store, invoice, now=now)
        declined = None
    else:
        declined = billing.invoice_pay(
            store, invoice, now=now, payment_method=params.get("payment_method")
        )
    if declined is None and sub is not None:
        if sub.get("_pending_invoice") == invoice["id"]:
            pending_update_apply(store, sub, now=now)
        if sub["status"] in ("incomplete", "past_due") and not _has_open_invoices(store, sub):
            sub["status"] = "active"
        billing.sub_update_event(store, sub, before=before)
    if declined is not None:
        # Stripe records the failed attempt and answers with the card error.
        raise declined
    return respond(call, invoice)


def _has_open_invoices(store: Store, sub: dict[str, Any]) -> bool:
    return any(i["status"] == "open" and _sub_of(store, i) is sub for i in store.all("invoice"))


@route("POST", "/v1/invoices/{id}/void", "InvoiceVoidInvoiceParams", set())
def invoice_void(call: Call) -> dict[str, Any]:
    store = call.store
    invoice = store.get(call.ids["id"], kind="invoice")
    if invoice["status"] not in ("open", "uncollectible"):
        raise StripeError.invalid(
            message=f"You can only void open invoices; this one is {invoice['status']}.",
            code="invoice_not_editable",
        )
    now = store.now_for_customer(invoice["customer"])
    invoice.update(status="void", amount_remaining=0)
    invoice["status_transitions"]["voided_at"] = now
    sub = _sub_of(store, invoice)
    if sub is not None and sub.get("_pending_invoice") == invoice["id"]:
        before = store.render(sub)
        sub.pop("_pending_specs", None)
        sub.pop("_pending_invoice", None)
        sub["pending_update"] = None
        billing.sub_update_event(store, sub, before=before)
    store.emit("invoice.voided", invoice)
    return respond(call, invoice)


@route("POST", "/v1/invoices/{id}/mark_uncollectible", "InvoiceMarkUncollectibleParams", set())
def invoice_mark_uncollectible(call: Call) -> dict[str, Any]:
    store = call.store
    invoice = store.get(call.ids["id"], kind="invoice")
    if invoice["status"] != "open":
        raise StripeError.invalid(
            message="You can only mark open invoices as uncollectible.",
            code="invoice_not_editable",
        )
    invoice["status"] = "uncollectible"
    invoice["status_transitions"]["marked_uncollectible_at"] = store.now_for_customer(
        invoice["customer"]
    )
    store.emit("invoice.marked_uncollectible", invoice)
    return respond(call, invoice)


@route("GET", "/v1/invoiceitems/{id}", "InvoiceItemRetrieveParams")
def invoice_item_retrieve(call: Call) -> dict[str, Any]:
    return respond(call, call.store.get(call.ids["id"], kind="invoiceitem"))


@route(
    "GET",
    "/v1/invoiceitems",
    "InvoiceItemListParams",
    {"customer", "invoice", "pending", "limit", "starting_after", "ending_before"},
)
def invoice_item_list(call: Call) -> dict[str, Any]:
    params = call.params
    found = [
        i
        for i in call.store.all("invoiceitem")
        if params.get("customer") in (None, i["customer"])
        and params.get("invoice") in (None, i["invoice"])
        and (params.get("pending") is None or params["pending"] == (i["invoice"] is None))
    ]
    return list_response(call, found, url="/v1/invoiceitems")


# ------------------------------------------------------------------------------ preview


@route(
    "POST",
    "/v1/invoices/create_preview",
    "InvoiceCreatePreviewParams",
    {"customer", "subscription", "subscription_details"},
)
def invoice_create_preview(call: Call) -> dict[str, Any]:
    """The invoice a proposed change would produce, computed without writing anything.

    With `proration_behavior=always_invoice` that is the immediate proration invoice;
    otherwise it is the next renewal invoice, including pending and proposed prorations.
    """
    store, params = call.store, call.params
    details = params.get("subscription_details") or {}
    sub = (
        store.get(params["subscription"], kind="subscription", param="subscription")
        if params.get("subscription")
        else None
    )
    customer_id = params.get("customer") or (sub["customer"] if sub else None)
    if not customer_id:
        raise StripeError.invalid(
            message="Missing required param: customer or subscription.",
            param="customer",
            code="parameter_missing",
        )
    store.get(customer_id, kind="customer", param="customer")
    if sub is not None and sub["customer"] != customer_id:
        raise StripeError.invalid(
            message="The subscription does not belong to that customer.", param="subscription"
        )
    for key in details:
        if key not in ("items", "proration_behavior", "proration_date", "expand"):
            raise StripeError.invalid(
                message="The Stripe emulator does not implement the parameter: "
                f"subscription_details[{key}].",
                param=f"subscription_details[{key}]",
                code="parameter_unknown",
            )
    now = store.now_for_customer(customer_id)
    if sub is None:
        return _preview_new_subscription(call, customer_id=customer_id, details=details, now=now)
    if sub["status"] == "canceled":
        raise StripeError.invalid(
            message="No upcoming invoices for a canceled subscription.",
            code="invoice_upcoming_none",
        )
    behavior = _choice(
        details.get("proration_behavior"),
        allowed=PRORATION_BEHAVIORS,
        param="subscription_details[proration_behavior]",
        default="create_prorations",
    )
    specs = (
        specs_from_update(store, sub, details["items"])
        if "items" in details
        else billing.current_specs(store, sub)
    )
    at = details.get("proration_date", now)
    start, end = sub["_period"]
    if not start <= at <= end:
        raise StripeError.invalid(
            message="proration_date must be within the current billing period.",
            param="subscription_details[proration_date]",
        )
    prorations = (
        billing.proration_items(store, sub, old=billing.current_specs(store, sub), new=specs, at=at)
        if behavior != "none"
        else []
    )
    pending = billing.pending_invoice_items(store, sub_id=sub["id"])
    preview = billing.invoice_new(
        store,
        customer_id=customer_id,
        sub=sub,
        now=now,
        billing_reason="subscription_update" if behavior == "always_invoice" else "upcoming",
        period=(at, at) if behavior == "always_invoice" else (start, end),
        invoice_id="upcoming_in_" + random_token(14),
    )
    billing.invoice_add_item_lines(store, preview, items=pending + prorations, attach=False)
    if behavior != "always_invoice":
        next_specs = _next_period_specs(store, sub, specs=specs, changed="items" in details)
        interval, count = billing.price_interval(store.objects[next_specs[0].price_id])
        next_period = (end, billing.add_interval(start=end, interval=interval, count=count))
        billing.invoice_add_recurring_lines(
            store, preview, sub=sub, specs=next_specs, period=next_period
        )
        preview.update(
            period_start=start,
            period_end=end,
            billing_reason="subscription_cycle",
            next_payment_attempt=end,
        )
    billing.invoice_totals(store, preview)
    preview["amount_remaining"] = preview["amount_due"]
    return store.expand(store.render(preview), call.expand)


def _next_period_specs(
    store: Store, sub: dict[str, Any], *, specs: list[billing.ItemSpec], changed: bool
) -> list[billing.ItemSpec]:
    """What the renewal will bill: a schedule's next phase wins unless the preview changes
    items itself, as Stripe previews a scheduled subscription."""
    schedule = store.find(sub["schedule"], kind="subscription_schedule")
    if changed or schedule is None or schedule["status"] != "active":
        return specs
    phase = billing.schedule_current_phase(schedule, at=sub["_period"][1])
    return billing.phase_specs(store, sub, phase) if phase else specs


def _preview_new_subscription(
    call: Call, *, customer_id: str, details: dict[str, Any], now: int
) -> dict[str, Any]:
    store = call.store
    specs = specs_from_create(store, details.get("items") or [])
    interval, count = billing.price_interval(store.objects[specs[0].price_id])
    period = (now, billing.add_interval(start=now, interval=interval, count=count))
    fake_sub = {
        "id": None,
        "metadata": {},
        "currency": store.objects[specs[0].price_id]["currency"],
    }
    preview = billing.invoice_new(
        store,
        customer_id=customer_id,
        sub=None,
        now=now,
        billing_reason="subscription_create",
        period=period,
        invoice_id="upcoming_in_" + random_token(14),
    )
    billing.invoice_add_recurring_lines(store, preview, sub=fake_sub, specs=specs, period=period)
    billing.invoice_totals(store, preview)
    preview["amount_remaining"] = preview["amount_due"]
    return store.expand(store.render(preview), call.expand)
