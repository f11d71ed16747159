"""Fixtures for the emulator's own tests. The server fixtures (`stripe_emulator`,
`stripe_emulator_server`) come from `stripe_emulator.pytest_plugin`, which the root
conftest registers for the whole suite."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import stripe

from stripe_emulator.pytest_plugin import EmulatorHandle

# 2026-01-01 00:00:00 UTC: January has 31 days, so the first monthly period is 2678400 s.
JAN_1 = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp())
FEB_1 = int(dt.datetime(2026, 2, 1, tzinfo=dt.UTC).timestamp())


@pytest.fixture
def emu(stripe_emulator: EmulatorHandle) -> EmulatorHandle:
    return stripe_emulator


@pytest.fixture
def teams_monthly(emu: EmulatorHandle) -> stripe.Price:
    """Teams, $18 per seat per month."""
    product = stripe.Product.create(name="Teams")
    return stripe.Price.create(
        product=product.id,
        currency="usd",
        unit_amount=1800,
        recurring={"interval": "month"},
        lookup_key="teams_monthly",
    )


@pytest.fixture
def teams_annual(teams_monthly: stripe.Price) -> stripe.Price:
    """Teams, $180 per seat per year."""
    return stripe.Price.create(
        product=teams_monthly.product,
        currency="usd",
        unit_amount=18000,
        recurring={"interval": "year"},
        lookup_key="teams_annual",
    )


@pytest.fixture
def clock(emu: EmulatorHandle) -> stripe.test_helpers.TestClock:
    return stripe.test_helpers.TestClock.create(frozen_time=JAN_1, name="january")


def customer_with_card(
    *, card: str = "pm_card_visa", clock_id: str | None = None, email: str = "acme@example.test"
) -> stripe.Customer:
    params: dict[str, Any] = {
        "email": email,
        "payment_method": card,
        "invoice_settings": {"default_payment_method": card},
    }
    if clock_id:
        params["test_clock"] = clock_id
    return stripe.Customer.create(**params)


@pytest.fixture
def customer(clock: stripe.test_helpers.TestClock) -> stripe.Customer:
    """A customer with a working Visa as default, living on the January test clock."""
    return customer_with_card(clock_id=clock.id)


@dataclass
class Receiver:
    """A real HTTP endpoint that records webhook deliveries; `fail_first` answers 500."""

    url: str = ""
    fail_first: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            state.received.append({"headers": dict(self.headers), "body": body})
            failing = state.fail_first > 0
            state.fail_first -= 1 if failing else 0
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/"
    yield state
    server.shutdown()
    server.server_close()


def event_types(received: list[dict[str, Any]]) -> list[str]:
    return [json.loads(r["body"])["type"] for r in received]
