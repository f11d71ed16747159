"""The reliability suite's shared parts: a tally of what was tried, printed at the end.

Every test records what it did through the ``tally`` fixture (faults injected, inputs
generated, URLs swept, ...). ``pytest_terminal_summary`` prints the totals with the
number of failed reliability tests, which must be 0; the README quotes that block.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.core.cache import cache
from django.test import Client

from tests.billing.conftest import stripe_world  # noqa: F401  (the emulator driver)

# The order the summary prints in; anything else recorded follows alphabetically.
HEADLINES = (
    "URLs swept",
    "requests sent by the sweep",
    "IDOR probes",
    "hostile webhooks",
    "inputs generated",
    "threads raced",
    "worker kills (SIGKILL)",
    "faults injected",
    "webhook deliveries (chaos)",
    "state machine steps",
    "database connections killed",
    "security checks",
)


class Tally:
    """Thread-safe counters; the concurrency tests record from their threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.tests_passed = 0
        self.tests_failed = 0

    def add(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] += n

    def lines(self) -> list[str]:
        order = [h for h in HEADLINES if h in self.counts]
        order += sorted(set(self.counts) - set(order))
        width = max((len(k) for k in order), default=0)
        lines = [f"  {key.ljust(width)}  {self.counts[key]:>7,}" for key in order]
        lines.append(f"  tests: {self.tests_passed} passed, failures = {self.tests_failed}")
        return lines


TALLY = Tally()


@pytest.fixture(scope="session")
def tally() -> Tally:
    return TALLY


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/reliability/" not in report.nodeid:
        return
    if report.failed:
        TALLY.tests_failed += 1
    elif report.when == "call" and report.passed:
        TALLY.tests_passed += 1


def pytest_terminal_summary(terminalreporter) -> None:
    if not (TALLY.counts or TALLY.tests_failed or TALLY.tests_passed):
        return
    terminalreporter.section("reliability summary")
    for line in TALLY.lines():
        terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def fresh_cache():
    # Rate-limit and throttle counters live in the cache: each test starts with none.
    cache.clear()
    yield
    cache.clear()


def client_for(user, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    if user is not None:
        client.force_login(user)
    return client
