"""Test clocks. Advancing runs every boundary crossed (renewals, trial ends, schedule
phases, period-end cancellations) at its own timestamp, then reports `ready`.
"""

from __future__ import annotations

import time
from typing import Any

from stripe_emulator import billing, shapes
from stripe_emulator.errors import StripeError
from stripe_emulator.routing import Call, list_response, respond, route

KIND = "test_helpers.test_clock"


@route(
    "POST",
    "/v1/test_helpers/test_clocks",
    "test_helpers.TestClockCreateParams",
    {"name", "frozen_time"},
)
def clock_create(call: Call) -> dict[str, Any]:
    store = call.store
    clock = shapes.test_clock(
        clock_id=store.new_id("clock_"),
        created=int(time.time()),
        frozen_time=call.params["frozen_time"],
        name=call.params.get("name"),
    )
    store.put(clock)
    store.emit("test_helpers.test_clock.created", clock)
    return respond(call, clock)


@route("GET", "/v1/test_helpers/test_clocks/{id}", "test_helpers.TestClockRetrieveParams")
def clock_retrieve(call: Call) -> dict[str, Any]:
    return respond(call, call.store.get(call.ids["id"], kind=KIND))


@route(
    "GET",
    "/v1/test_helpers/test_clocks",
    "test_helpers.TestClockListParams",
    {"limit", "starting_after", "ending_before"},
)
def clock_list(call: Call) -> dict[str, Any]:
    return list_response(call, call.store.all(KIND), url="/v1/test_helpers/test_clocks")


@route("DELETE", "/v1/test_helpers/test_clocks/{id}", "test_helpers.TestClockDeleteParams")
def clock_delete(call: Call) -> dict[str, Any]:
    store = call.store
    clock = store.get(call.ids["id"], kind=KIND)
    # Deleting a clock deletes its customers and, with them, their subscriptions.
    for cust in store.all("customer"):
        if cust["test_clock"] == clock["id"]:
            store.deleted.add(cust["id"])
            for sub in store.all("subscription"):
                if sub["customer"] == cust["id"]:
                    store.deleted.add(sub["id"])
    store.deleted.add(clock["id"])
    store.emit("test_helpers.test_clock.deleted", clock)
    return {"id": clock["id"], "object": KIND, "deleted": True}


@route(
    "POST",
    "/v1/test_helpers/test_clocks/{id}/advance",
    "test_helpers.TestClockAdvanceParams",
    {"frozen_time"},
)
def clock_advance(call: Call) -> dict[str, Any]:
    store = call.store
    clock = store.get(call.ids["id"], kind=KIND)
    target = call.params["frozen_time"]
    if target <= clock["frozen_time"]:
        raise StripeError.invalid(
            message="The frozen time must be after the current frozen time of the test clock.",
            param="frozen_time",
        )
    clock["status"] = "advancing"
    store.emit("test_helpers.test_clock.advancing", clock)
    billing.clock_advance(store, clock, to=target)
    clock["status"] = "ready"
    store.emit("test_helpers.test_clock.ready", clock)
    return respond(call, clock)
