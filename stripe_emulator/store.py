"""In-memory state: objects by id, events, and the clock each object lives on.

One re-entrant lock guards everything; the server holds it for the whole of a request,
so every API call is atomic, like a Stripe request is. Webhook deliveries collected
during a request are sent after the lock is released, because the receiver (the app)
often calls back into the emulator.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import stripe

from stripe_emulator import shapes
from stripe_emulator.errors import StripeError

API_VERSION: str = stripe.api_version

# Prefix → object name used in "No such ..." messages and for expansion.
PREFIXES: dict[str, str] = {
    "cus_": "customer",
    "prod_": "product",
    "price_": "price",
    "pm_": "payment_method",
    "sub_sched_": "subscription_schedule",
    "sub_": "subscription",
    "si_": "subscription_item",
    "in_": "invoice",
    "ii_": "invoiceitem",
    "clock_": "test_helpers.test_clock",
    "evt_": "event",
    "we_": "webhook_endpoint",
    "cs_test_": "checkout.session",
    "bps_": "billing_portal.session",
    "acct_": "account",
}

_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int = 24) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass
class Delivery:
    """One signed webhook POST waiting to be sent (or handed to a test via the outbox)."""

    endpoint_id: str
    url: str
    event_id: str
    event_type: str
    body: str
    secret: str
    attempts: int = 0


@dataclass
class Store:
    lock: threading.RLock = field(default_factory=threading.RLock)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    sequence: dict[str, int] = field(default_factory=dict)
    # Ids per object type in creation order: lists and clock scans must not walk every
    # event ever emitted.
    by_kind: dict[str, list[str]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    base_url: str = "http://127.0.0.1"
    # Filled during a request and flushed by the server once the lock is released.
    outgoing: list[Delivery] = field(default_factory=list)
    request_id: str | None = None
    request_idempotency_key: str | None = None
    _counter: itertools.count = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.account_id = "acct_" + random_token(16)
        self.objects[self.account_id] = shapes.account(
            account_id=self.account_id, created=int(time.time())
        )

    # ids and storage -----------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return prefix + random_token(24 if prefix == "cs_test_" else 14)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        if obj["id"] not in self.sequence:
            self.sequence[obj["id"]] = next(self._counter)
            self.by_kind.setdefault(obj["object"], []).append(obj["id"])
        self.objects[obj["id"]] = obj
        return obj

    def get(self, object_id: str, *, kind: str, param: str | None = "id") -> dict[str, Any]:
        obj = self.objects.get(object_id) if isinstance(object_id, str) else None
        if obj is None or obj["object"] != kind or object_id in self.deleted:
            raise StripeError.missing(kind=kind, object_id=str(object_id), param=param)
        return obj

    def find(self, object_id: str | None, *, kind: str) -> dict[str, Any] | None:
        obj = self.objects.get(object_id or "")
        return obj if obj is not None and obj["object"] == kind else None

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Objects of one kind, newest first (Stripe's list order)."""
        ids = self.by_kind.get(kind, [])
        return [self.objects[i] for i in reversed(ids) if i not in self.deleted]

    # time ---------------------------------------------------------------------------

    def now_for_customer(self, customer_id: str | None) -> int:
        """Objects of a customer on a test clock live on the clock's frozen time."""
        cust = self.find(customer_id, kind="customer")
        clock = self.find(cust["test_clock"] if cust else None, kind="test_helpers.test_clock")
        return clock["frozen_time"] if clock else int(time.time())

    # rendering ---------------------------------------------------------------------

    def render(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = obj["object"]
        out = {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}
        if kind == "subscription":
            items = [
                self.render(self.objects[i]) for i in obj["_item_ids"] if i not in self.deleted
            ]
            out["items"] = {
                "object": "list",
                "data": items,
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={obj['id']}",
            }
        elif kind == "subscription_item":
            price_obj = copy.deepcopy(self.objects[obj["price"]])
            out["price"] = price_obj
            out["plan"] = shapes.plan_from_price(price_obj=price_obj)
        elif kind == "invoice":
            lines = copy.deepcopy(obj["_lines"])
            out["lines"] = {
                "object": "list",
                "data": lines,
                "has_more": False,
                "url": f"/v1/invoices/{obj['id']}/lines",
            }
        elif kind == "subscription_schedule":
            for phase in out["phases"]:
                for item in phase["items"]:
                    item["plan"] = item["price"]
        return out

    def expand(self, data: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        for path in paths:
            self._expand_path(data, path.split("."), full=path)
        return data

    def _expand_path(self, node: Any, parts: list[str], *, full: str) -> None:
        if not parts or node is None:
            return
        if isinstance(node, list):
            for element in node:
                self._expand_path(element, parts, full=full)
            return
        if not isinstance(node, dict):
            return
        if node.get("object") == "list" and parts[0] == "data":
            self._expand_path(node["data"], parts[1:], full=full)
            return
        key, rest = parts[0], parts[1:]
        if key not in node and (node.get("object"), key) in INCLUDABLE:
            # Fields Stripe leaves out unless asked for with `expand` (dj-stripe asks).
            node[key] = INCLUDABLE[node.get("object"), key](self, node)
        elif key == "breakdown" and {"amount_discount", "amount_tax"} <= set(node):
            # total_details.breakdown: includable; no discounts or taxes here.
            node[key] = {"discounts": [], "taxes": []}
            return
        if key not in node:
            raise StripeError.invalid(
                message=f"This property cannot be expanded ({full}).", param="expand"
            )
        value = node[key]
        if isinstance(value, str) and not rest and value in self.objects:
            node[key] = self.render(self.objects[value])
            return
        if isinstance(value, str) and value in self.objects:
            node[key] = self.render(self.objects[value])
            value = node[key]
        elif isinstance(value, str) or (value is None and not rest):
            if value is None:
                return
            raise StripeError.invalid(
                message=f"This property cannot be expanded ({full}).", param="expand"
            )
        self._expand_path(value, rest, full=full)

    def checkout_line_items(self, session_id: str) -> dict[str, Any]:
        session = self.objects[session_id]
        data = []
        for index, line in enumerate(session.get("_line_items") or []):
            price = self.render(self.objects[line["price"]])
            amount = (price.get("unit_amount") or 0) * line["quantity"]
            product = self.objects.get(price.get("product")) or {}
            data.append(
                {
                    "id": f"li_{session_id[-16:]}{index}",
                    "object": "item",
                    "adjustable_quantity": None,
                    "amount_discount": 0,
                    "amount_subtotal": amount,
                    "amount_tax": 0,
                    "amount_total": amount,
                    "currency": price.get("currency"),
                    "description": product.get("name"),
                    "discounts": [],  # includable; always empty here
                    "metadata": {},
                    "price": price,
                    "quantity": line["quantity"],
                }
            )
        return _list(data, url=f"/v1/checkout/sessions/{session_id}/line_items")

    def respond(self, obj: dict[str, Any], *, expand: list[str] | None = None) -> dict[str, Any]:
        return self.expand(self.render(obj), expand or [])

    # events ----------------------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        event = shapes.event(
            event_id=self.new_id("evt_"),
            created=int(time.time()),
            event_type=event_type,
            data_object=self.render(obj),
            previous_attributes=previous_attributes,
            api_version=API_VERSION,
            request_id=self.request_id,
            idempotency_key=self.request_idempotency_key,
        )
        self.put(event)
        for endpoint in reversed(self.all("webhook_endpoint")):
            wanted = endpoint["enabled_events"]
            if endpoint["status"] == "enabled" and ("*" in wanted or event_type in wanted):
                event["pending_webhooks"] += 1
                self.outgoing.append(
                    Delivery(
                        endpoint_id=endpoint["id"],
                        url=endpoint["url"],
                        event_id=event["id"],
                        event_type=event_type,
                        body="",
                        secret=endpoint["secret"],
                    )
                )
        return event

    def take_outgoing(self) -> list[Delivery]:
        """Hand over this request's deliveries, with bodies frozen at this moment."""
        import json

        batch, self.outgoing = self.outgoing, []
        for delivery in batch:
            delivery.body = json.dumps(self.objects[delivery.event_id])
        return batch


def _list(data: list[dict[str, Any]], *, url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": False, "url": url}


def _customer_subscriptions(store: Store, node: dict[str, Any]) -> dict[str, Any]:
    subs = [
        store.render(s)
        for s in store.all("subscription")
        if s["customer"] == node["id"] and s["status"] != "canceled"
    ]
    return _list(subs, url=f"/v1/customers/{node['id']}/subscriptions")


def _price_currency_options(store: Store, node: dict[str, Any]) -> dict[str, Any]:
    return {
        node["currency"]: {
            "custom_unit_amount": None,
            "tax_behavior": node["tax_behavior"],
            "tiers": None,
            "unit_amount": node["unit_amount"],
            "unit_amount_decimal": node["unit_amount_decimal"],
        }
    }


INCLUDABLE: dict[tuple[str | None, str], Any] = {
    ("checkout.session", "line_items"): lambda store, node: store.checkout_line_items(node["id"]),
    ("customer", "sources"): lambda store, node: _list(
        [], url=f"/v1/customers/{node['id']}/sources"
    ),
    ("customer", "tax_ids"): lambda store, node: _list(
        [], url=f"/v1/customers/{node['id']}/tax_ids"
    ),
    ("customer", "subscriptions"): _customer_subscriptions,
    ("price", "currency_options"): _price_currency_options,
    ("price", "tiers"): lambda store, node: [],
}
