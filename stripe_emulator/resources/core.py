"""Core /v1 resources: account, customers, products, prices, payment methods, events,
webhook endpoints.

A handler receives the store, the validated parameters and the path ids, and returns a
JSON-able dict. It raises `StripeError` for anything Stripe would refuse; handlers check
every input before they write, so a refused request changes nothing.
"""

from __future__ import annotations

import re
import time
from typing import Any

from stripe_emulator import billing, shapes
from stripe_emulator.errors import StripeError
from stripe_emulator.routing import Call, list_response, respond, route, update_metadata
from stripe_emulator.store import API_VERSION, Store, random_token


def _updated(call: Call, obj: dict[str, Any], *, before: dict[str, Any]) -> dict[str, Any]:
    """Emit ``<object>.updated`` with what changed since ``before``, then answer."""
    store = call.store
    store.emit(
        f"{obj['object']}.updated",
        obj,
        previous_attributes=billing.previous_attributes(before, store.render(obj)),
    )
    return respond(call, obj)


def _deleted(store: Store, obj: dict[str, Any]) -> dict[str, Any]:
    """Emit ``<object>.deleted``, forget the object, and answer Stripe's deleted stub."""
    store.emit(f"{obj['object']}.deleted", obj)
    store.deleted.add(obj["id"])
    return {"id": obj["id"], "object": obj["object"], "deleted": True}


# ------------------------------------------------------------------------------ account


@route("GET", "/v1/account", "AccountRetrieveCurrentParams")
def account_retrieve(call: Call) -> dict[str, Any]:
    return respond(call, call.store.objects[call.store.account_id])


# ------------------------------------------------------------------------------ customers

_CUSTOMER_FIELDS = {
    "email", "name", "description", "phone", "address", "invoice_settings", "payment_method",
    "preferred_locales", "tax_exempt", "balance",
}  # fmt: skip


@route("POST", "/v1/customers", "CustomerCreateParams", _CUSTOMER_FIELDS | {"test_clock"})
def customer_create(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    clock_id = params.get("test_clock")
    if clock_id:
        store.get(clock_id, kind="test_helpers.test_clock", param="test_clock")
    card_number = None
    if params.get("payment_method"):
        card_number = _card_number_for(store, params["payment_method"], param="payment_method")
        billing.card_check(number=card_number, stage="attach")
    default_pm = (params.get("invoice_settings") or {}).get("default_payment_method")
    if default_pm and default_pm != params.get("payment_method"):
        raise StripeError.invalid(
            message=f"The customer does not have a payment method with the ID {default_pm}. "
            "The payment method must be attached to the customer.",
            param="invoice_settings[default_payment_method]",
        )
    customer_id = store.new_id("cus_")
    now = store.objects[clock_id]["frozen_time"] if clock_id else int(time.time())
    cust = shapes.customer(
        customer_id=customer_id, created=now, params=params, test_clock=clock_id or None
    )
    cust["invoice_settings"]["default_payment_method"] = None
    store.put(cust)
    if card_number is not None:
        pm = _payment_method_attach(store, params["payment_method"], customer_id=customer_id)
        if default_pm:
            cust["invoice_settings"]["default_payment_method"] = pm["id"]
    store.emit("customer.created", cust)
    return respond(call, cust)


def _customer_get(call: Call) -> dict[str, Any]:
    customer_id = call.ids["id"]
    if customer_id in call.store.deleted and customer_id in call.store.objects:
        return {"id": customer_id, "object": "customer", "deleted": True}
    return call.store.get(customer_id, kind="customer")


@route("GET", "/v1/customers/{id}", "CustomerRetrieveParams")
def customer_retrieve(call: Call) -> dict[str, Any]:
    cust = _customer_get(call)
    return cust if cust.get("deleted") else respond(call, cust)


@route("POST", "/v1/customers/{id}", "CustomerModifyParams", _CUSTOMER_FIELDS)
def customer_modify(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    cust = store.get(call.ids["id"], kind="customer")
    settings = params.get("invoice_settings") or {}
    default_pm = settings.get("default_payment_method")
    if default_pm:
        pm = store.find(default_pm, kind="payment_method")
        if pm is None or pm["customer"] != cust["id"]:
            raise StripeError.invalid(
                message=f"The customer does not have a payment method with the ID {default_pm}. "
                "The payment method must be attached to the customer.",
                param="invoice_settings[default_payment_method]",
            )
    if params.get("payment_method"):
        raise StripeError.invalid(
            message="Attach payment methods with POST /v1/payment_methods/{id}/attach.",
            param="payment_method",
        )
    before = store.render(cust)
    for key in ("email", "name", "description", "phone", "tax_exempt", "balance"):
        if key in params:
            cust[key] = params[key] if params[key] != "" else None
    if "address" in params:
        cust["address"] = params["address"] or None
    if "preferred_locales" in params:
        cust["preferred_locales"] = list(params["preferred_locales"] or [])
    if "default_payment_method" in settings:
        cust["invoice_settings"]["default_payment_method"] = default_pm or None
    update_metadata(cust, params.get("metadata"))
    return _updated(call, cust, before=before)


@route("DELETE", "/v1/customers/{id}", "CustomerDeleteParams")
def customer_delete(call: Call) -> dict[str, Any]:
    store = call.store
    cust = store.get(call.ids["id"], kind="customer")
    now = store.now_for_customer(cust["id"])
    for sub in store.all("subscription"):
        if sub["customer"] == cust["id"] and sub["status"] != "canceled":
            billing.sub_cancel(store, sub, now=now, reason="cancellation_requested")
    return _deleted(store, cust)


@route(
    "GET",
    "/v1/customers",
    "CustomerListParams",
    {"email", "test_clock", "limit", "starting_after", "ending_before"},
)
def customer_list(call: Call) -> dict[str, Any]:
    found = [
        c
        for c in call.store.all("customer")
        if call.params.get("email") in (None, c["email"])
        and call.params.get("test_clock") in (None, c["test_clock"])
    ]
    return list_response(call, found, url="/v1/customers")


@route(
    "GET",
    "/v1/customers/{id}/payment_methods",
    "CustomerListPaymentMethodsParams",
    {"type", "limit", "starting_after", "ending_before"},
)
def customer_payment_methods(call: Call) -> dict[str, Any]:
    cust = call.store.get(call.ids["id"], kind="customer")
    found = [p for p in call.store.all("payment_method") if p["customer"] == cust["id"]]
    return list_response(call, found, url=f"/v1/customers/{cust['id']}/payment_methods")


# ------------------------------------------------------------------------------ products


@route(
    "POST",
    "/v1/products",
    "ProductCreateParams",
    {
        "id",
        "name",
        "active",
        "description",
        "images",
        "marketing_features",
        "statement_descriptor",
        "unit_label",
        "url",
        "default_price_data",
    },
)
def product_create(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    product_id = params.get("id") or store.new_id("prod_")
    if product_id in store.objects:
        raise StripeError.invalid(
            message=f"Product already exists: {product_id}",
            param="id",
            code="resource_already_exists",
        )
    now = int(time.time())
    prod = shapes.product(product_id=product_id, created=now, params=params)
    price_data = params.get("default_price_data")
    store.put(prod)
    store.emit("product.created", prod)
    if price_data:
        price_obj = _price_build(
            store,
            params={k: v for k, v in price_data.items() if k != "metadata"},
            product_id=product_id,
        )
        prod["default_price"] = price_obj["id"]
    return respond(call, prod)


@route("GET", "/v1/products/{id}", "ProductRetrieveParams")
def product_retrieve(call: Call) -> dict[str, Any]:
    return respond(call, call.store.get(call.ids["id"], kind="product"))


@route(
    "POST",
    "/v1/products/{id}",
    "ProductModifyParams",
    {
        "name",
        "active",
        "description",
        "default_price",
        "statement_descriptor",
        "unit_label",
        "url",
        "images",
        "marketing_features",
    },
)
def product_modify(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    prod = store.get(call.ids["id"], kind="product")
    if params.get("default_price"):
        price_obj = store.get(params["default_price"], kind="price", param="default_price")
        if price_obj["product"] != prod["id"]:
            raise StripeError.invalid(
                message="The default price must belong to this product.", param="default_price"
            )
    before = store.render(prod)
    for key in (
        "name",
        "active",
        "description",
        "default_price",
        "statement_descriptor",
        "unit_label",
        "url",
        "images",
        "marketing_features",
    ):
        if key in params:
            prod[key] = params[key] if params[key] != "" else None
    update_metadata(prod, params.get("metadata"))
    prod["updated"] = int(time.time())
    return _updated(call, prod, before=before)


@route("DELETE", "/v1/products/{id}", "ProductDeleteParams")
def product_delete(call: Call) -> dict[str, Any]:
    store = call.store
    prod = store.get(call.ids["id"], kind="product")
    if any(p["product"] == prod["id"] for p in store.all("price")):
        raise StripeError.invalid(
            message="This product cannot be deleted because it has one or more user-created "
            "prices.",
        )
    return _deleted(store, prod)


@route(
    "GET",
    "/v1/products",
    "ProductListParams",
    {"active", "ids", "limit", "starting_after", "ending_before"},
)
def product_list(call: Call) -> dict[str, Any]:
    params = call.params
    found = [
        p
        for p in call.store.all("product")
        if params.get("active") in (None, p["active"])
        and (not params.get("ids") or p["id"] in params["ids"])
    ]
    return list_response(call, found, url="/v1/products")


# ------------------------------------------------------------------------------ prices


def _price_build(store: Store, *, params: dict[str, Any], product_id: str) -> dict[str, Any]:
    if params.get("unit_amount") is None and params.get("unit_amount_decimal") is None:
        raise StripeError.invalid(
            message="Missing required param: unit_amount.",
            param="unit_amount",
            code="parameter_missing",
        )
    if (params.get("unit_amount") or 0) < 0:
        raise StripeError.invalid(
            message="Invalid integer: unit_amount must be >= 0",
            param="unit_amount",
            code="parameter_invalid_integer",
        )
    recurring = params.get("recurring")
    if recurring and recurring["interval"] not in ("day", "week", "month", "year"):
        raise StripeError.invalid(
            message="Invalid recurring[interval]: must be one of day, week, month, or year",
            param="recurring[interval]",
        )
    price_obj = shapes.price(
        price_id=store.new_id("price_"),
        created=int(time.time()),
        params=params,
        product_id=product_id,
    )
    store.put(price_obj)
    store.emit("price.created", price_obj)
    return price_obj


def _lookup_key_owner(store: Store, lookup_key: str) -> dict[str, Any] | None:
    return next((p for p in store.all("price") if p["lookup_key"] == lookup_key), None)


@route(
    "POST",
    "/v1/prices",
    "PriceCreateParams",
    {
        "currency",
        "product",
        "product_data",
        "unit_amount",
        "unit_amount_decimal",
        "recurring",
        "lookup_key",
        "transfer_lookup_key",
        "nickname",
        "active",
        "tax_behavior",
        "billing_scheme",
    },
)
def price_create(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    if bool(params.get("product")) == bool(params.get("product_data")):
        raise StripeError.invalid(
            message="You must specify either `product` or `product_data` when creating a price.",
            param="product",
        )
    if params.get("product"):
        store.get(params["product"], kind="product", param="product")
    owner = _lookup_key_owner(store, params["lookup_key"]) if params.get("lookup_key") else None
    if owner and not params.get("transfer_lookup_key"):
        raise StripeError.invalid(
            message=f"A price ({owner['id']}) already uses that lookup key.",
            param="lookup_key",
        )
    product_id = params.get("product")
    if not product_id:
        prod = shapes.product(
            product_id=store.new_id("prod_"),
            created=int(time.time()),
            params=params["product_data"],
        )
        store.put(prod)
        store.emit("product.created", prod)
        product_id = prod["id"]
    if owner:
        owner["lookup_key"] = None
        store.emit("price.updated", owner, previous_attributes={"lookup_key": params["lookup_key"]})
    price_obj = _price_build(store, params=params, product_id=product_id)
    return respond(call, price_obj)


@route("GET", "/v1/prices/{id}", "PriceRetrieveParams")
def price_retrieve(call: Call) -> dict[str, Any]:
    return respond(call, call.store.get(call.ids["id"], kind="price"))


@route(
    "POST",
    "/v1/prices/{id}",
    "PriceModifyParams",
    {"active", "lookup_key", "nickname", "transfer_lookup_key", "tax_behavior"},
)
def price_modify(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    price_obj = store.get(call.ids["id"], kind="price")
    if params.get("lookup_key"):
        owner = _lookup_key_owner(store, params["lookup_key"])
        if owner and owner["id"] != price_obj["id"]:
            if not params.get("transfer_lookup_key"):
                raise StripeError.invalid(
                    message=f"A price ({owner['id']}) already uses that lookup key.",
                    param="lookup_key",
                )
            owner["lookup_key"] = None
    before = store.render(price_obj)
    for key in ("active", "lookup_key", "nickname", "tax_behavior"):
        if key in params:
            price_obj[key] = params[key] if params[key] != "" else None
    update_metadata(price_obj, params.get("metadata"))
    return _updated(call, price_obj, before=before)


@route(
    "GET",
    "/v1/prices",
    "PriceListParams",
    {
        "active",
        "product",
        "lookup_keys",
        "type",
        "currency",
        "recurring",
        "limit",
        "starting_after",
        "ending_before",
    },
)
def price_list(call: Call) -> dict[str, Any]:
    params = call.params
    recurring = params.get("recurring") or {}
    found = [
        p
        for p in call.store.all("price")
        if params.get("active") in (None, p["active"])
        and params.get("product") in (None, p["product"])
        and params.get("type") in (None, p["type"])
        and params.get("currency") in (None, p["currency"])
        and (not params.get("lookup_keys") or p["lookup_key"] in params["lookup_keys"])
        and (
            not recurring.get("interval")
            or (p["recurring"] or {}).get("interval") == recurring["interval"]
        )
    ]
    return list_response(call, found, url="/v1/prices")


# ------------------------------------------------------------------------------ payment methods


def _card_number_for(store: Store, pm_ref: str, *, param: str) -> str:
    if pm_ref in billing.TEST_PAYMENT_METHOD_TOKENS:
        return billing.TEST_PAYMENT_METHOD_TOKENS[pm_ref]
    return store.get(pm_ref, kind="payment_method", param=param)["_number"]


def _card_details(number: str, *, exp_month: int, exp_year: int) -> dict[str, Any]:
    brand = "mastercard" if number.startswith("5") else "visa"
    return {
        "brand": brand,
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },
        "country": "US",
        "display_brand": brand,
        "exp_month": exp_month,
        "exp_year": exp_year,
        "fingerprint": "emu" + number[-8:],
        "funding": "credit",
        "generated_from": None,
        "last4": number[-4:],
        "networks": {"available": [brand], "preferred": None},
        "regulated_status": "unregulated",
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


def payment_method_new(
    store: Store,
    *,
    number: str,
    exp_month: int = 12,
    exp_year: int = 2034,
    billing_details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if number not in billing.TEST_CARDS:
        raise StripeError(
            status=402,
            type="card_error",
            code="incorrect_number",
            message="Your card number is incorrect.",
            param="card[number]",
        )
    pm = shapes.payment_method(
        pm_id=store.new_id("pm_"),
        created=int(time.time()),
        card=_card_details(number, exp_month=exp_month, exp_year=exp_year),
        billing_details=billing_details or {},
    )
    pm["_number"] = number
    return store.put(pm)


@route(
    "POST", "/v1/payment_methods", "PaymentMethodCreateParams", {"type", "card", "billing_details"}
)
def payment_method_create(call: Call) -> dict[str, Any]:
    params = call.params
    if params.get("type") != "card":
        raise StripeError.invalid(
            message="The Stripe emulator supports type=card only.", param="type"
        )
    card = params.get("card") or {}
    if card.get("token"):
        number = billing.TEST_PAYMENT_METHOD_TOKENS.get(card["token"])
        if number is None:
            raise StripeError.missing(kind="token", object_id=card["token"], param="card[token]")
    else:
        number = card.get("number")
        if not number:
            raise StripeError.invalid(
                message="Missing required param: card[number].",
                param="card[number]",
                code="parameter_missing",
            )
        if not card.get("exp_month") or not card.get("exp_year"):
            raise StripeError.invalid(
                message="Missing required param: card[exp_month].",
                param="card[exp_month]",
                code="parameter_missing",
            )
    pm = payment_method_new(
        call.store,
        number=str(number).replace(" ", ""),
        exp_month=int(card.get("exp_month") or 12),
        exp_year=int(card.get("exp_year") or 2034),
        billing_details=params.get("billing_details"),
    )
    return respond(call, pm)


def _payment_method_attach(store: Store, pm_ref: str, *, customer_id: str) -> dict[str, Any]:
    if pm_ref in billing.TEST_PAYMENT_METHOD_TOKENS:
        pm = payment_method_new(store, number=billing.TEST_PAYMENT_METHOD_TOKENS[pm_ref])
    else:
        pm = store.get(pm_ref, kind="payment_method")
    if pm["customer"] not in (None, customer_id):
        raise StripeError.invalid(
            message="The payment method you provided has already been attached to a customer."
        )
    billing.card_check(number=pm["_number"], stage="attach")
    pm["customer"] = customer_id
    store.emit("payment_method.attached", pm)
    return pm


@route("POST", "/v1/payment_methods/{id}/attach", "PaymentMethodAttachParams", {"customer"})
def payment_method_attach(call: Call) -> dict[str, Any]:
    store = call.store
    customer_id = call.params.get("customer")
    if not customer_id:
        raise StripeError.invalid(
            message="Missing required param: customer.",
            param="customer",
            code="parameter_missing",
        )
    store.get(customer_id, kind="customer", param="customer")
    return respond(call, _payment_method_attach(store, call.ids["id"], customer_id=customer_id))


@route("POST", "/v1/payment_methods/{id}/detach", "PaymentMethodDetachParams")
def payment_method_detach(call: Call) -> dict[str, Any]:
    store = call.store
    pm = store.get(call.ids["id"], kind="payment_method")
    if pm["customer"] is None:
        raise StripeError.invalid(
            message="The payment method you provided is not attached to a customer so "
            "detachment is impossible."
        )
    cust = store.objects[pm["customer"]]
    if cust["invoice_settings"]["default_payment_method"] == pm["id"]:
        cust["invoice_settings"]["default_payment_method"] = None
    pm["customer"] = None
    store.emit("payment_method.detached", pm)
    return respond(call, pm)


@route("GET", "/v1/payment_methods/{id}", "PaymentMethodRetrieveParams")
def payment_method_retrieve(call: Call) -> dict[str, Any]:
    return respond(call, call.store.get(call.ids["id"], kind="payment_method"))


@route("POST", "/v1/payment_methods/{id}", "PaymentMethodModifyParams", {"billing_details"})
def payment_method_modify(call: Call) -> dict[str, Any]:
    pm = call.store.get(call.ids["id"], kind="payment_method")
    for key, value in (call.params.get("billing_details") or {}).items():
        if key in pm["billing_details"] and key != "address":
            pm["billing_details"][key] = value or None
    update_metadata(pm, call.params.get("metadata"))
    call.store.emit("payment_method.updated", pm)
    return respond(call, pm)


@route(
    "GET",
    "/v1/payment_methods",
    "PaymentMethodListParams",
    {"customer", "type", "limit", "starting_after", "ending_before"},
)
def payment_method_list(call: Call) -> dict[str, Any]:
    found = [
        p
        for p in call.store.all("payment_method")
        if call.params.get("customer") in (None, p["customer"])
    ]
    return list_response(call, found, url="/v1/payment_methods")


# ------------------------------------------------------------------------------ events & webhooks


@route("GET", "/v1/events/{id}", "EventRetrieveParams")
def event_retrieve(call: Call) -> dict[str, Any]:
    return respond(call, call.store.get(call.ids["id"], kind="event"))


@route(
    "GET",
    "/v1/events",
    "EventListParams",
    {"type", "types", "limit", "starting_after", "ending_before", "created"},
)
def event_list(call: Call) -> dict[str, Any]:
    params = call.params
    wanted = set(params.get("types") or []) | ({params["type"]} if params.get("type") else set())

    def matches(event_type: str) -> bool:
        return not wanted or any(
            event_type == w or (w.endswith("*") and event_type.startswith(w[:-1])) for w in wanted
        )

    found = [e for e in call.store.all("event") if matches(e["type"])]
    return list_response(call, found, url="/v1/events")


def _check_url(url: str) -> None:
    if not re.match(r"^https?://[^\s/]+", url or ""):
        raise StripeError.invalid(message=f"Invalid URL: {url}", param="url", code="url_invalid")


@route(
    "POST",
    "/v1/webhook_endpoints",
    "WebhookEndpointCreateParams",
    {"url", "enabled_events", "description", "api_version"},
)
def webhook_endpoint_create(call: Call) -> dict[str, Any]:
    store, params = call.store, call.params
    _check_url(params["url"])
    secret = "whsec_" + random_token(32)
    endpoint = shapes.webhook_endpoint(
        endpoint_id=store.new_id("we_"),
        created=int(time.time()),
        params=params,
        secret=secret,
        api_version=API_VERSION,
    )
    store.put(endpoint)
    # Stripe shows the signing secret in the create response only.
    body = respond(call, endpoint)
    endpoint["_secret_shown"] = True
    return body


def _endpoint_public(call: Call, endpoint: dict[str, Any]) -> dict[str, Any]:
    body = respond(call, endpoint)
    body.pop("secret", None)
    return body


@route("GET", "/v1/webhook_endpoints/{id}", "WebhookEndpointRetrieveParams")
def webhook_endpoint_retrieve(call: Call) -> dict[str, Any]:
    return _endpoint_public(call, call.store.get(call.ids["id"], kind="webhook_endpoint"))


@route(
    "POST",
    "/v1/webhook_endpoints/{id}",
    "WebhookEndpointModifyParams",
    {"url", "enabled_events", "description", "disabled"},
)
def webhook_endpoint_modify(call: Call) -> dict[str, Any]:
    params = call.params
    endpoint = call.store.get(call.ids["id"], kind="webhook_endpoint")
    if "url" in params:
        _check_url(params["url"])
        endpoint["url"] = params["url"]
    if "enabled_events" in params:
        endpoint["enabled_events"] = list(params["enabled_events"])
    if "description" in params:
        endpoint["description"] = params["description"] or None
    if "disabled" in params:
        endpoint["status"] = "disabled" if params["disabled"] else "enabled"
    update_metadata(endpoint, params.get("metadata"))
    return _endpoint_public(call, endpoint)


@route("DELETE", "/v1/webhook_endpoints/{id}", "WebhookEndpointDeleteParams")
def webhook_endpoint_delete(call: Call) -> dict[str, Any]:
    endpoint = call.store.get(call.ids["id"], kind="webhook_endpoint")
    call.store.deleted.add(endpoint["id"])
    return {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}


@route(
    "GET",
    "/v1/webhook_endpoints",
    "WebhookEndpointListParams",
    {"limit", "starting_after", "ending_before"},
)
def webhook_endpoint_list(call: Call) -> dict[str, Any]:
    body = list_response(call, call.store.all("webhook_endpoint"), url="/v1/webhook_endpoints")
    for endpoint in body["data"]:
        endpoint.pop("secret", None)
    return body
