"""pytest fixtures for the emulator. One server per test session; every test that asks
for `stripe_emulator` gets it reset, with `stripe.api_base`/`api_key` pointed at it and
restored afterwards.

Use: `from stripe_emulator.pytest_plugin import *` in a conftest, or register it in the
root conftest with `pytest_plugins = ["stripe_emulator.pytest_plugin"]`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import stripe

from stripe_emulator.control import EmulatorControl
from stripe_emulator.server import EmulatorServer

TEST_API_KEY = "sk_test_emulator"

__all__ = ["EmulatorHandle", "stripe_emulator", "stripe_emulator_server"]


@dataclass(frozen=True)
class EmulatorHandle:
    url: str
    control: EmulatorControl
    server: EmulatorServer
    api_key: str = TEST_API_KEY


@pytest.fixture(scope="session")
def stripe_emulator_server() -> Iterator[EmulatorServer]:
    server = EmulatorServer(port=0).start()
    yield server
    server.stop()


@pytest.fixture
def stripe_emulator(stripe_emulator_server: EmulatorServer) -> Iterator[EmulatorHandle]:
    control = EmulatorControl(stripe_emulator_server.url)
    control.reset()
    saved = (stripe.api_base, stripe.api_key, stripe.max_network_retries)
    stripe.api_base = stripe_emulator_server.url
    stripe.api_key = TEST_API_KEY
    # Retries are off so that tests see each injected fault; turn them on per test.
    stripe.max_network_retries = 0
    try:
        yield EmulatorHandle(
            url=stripe_emulator_server.url, control=control, server=stripe_emulator_server
        )
    finally:
        stripe.api_base, stripe.api_key, stripe.max_network_retries = saved
