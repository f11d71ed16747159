"""Signed webhook delivery in three modes: sync, async (with retries) and outbox.

The signature is Stripe's scheme, `t=<unix>,v1=<hex hmac_sha256(secret, "t.body")>`,
with `t` taken from the real wall clock (never a test clock), so
`stripe.Webhook.construct_event` accepts it within its default tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from stripe_emulator.store import Delivery

MODES = ("sync", "async", "outbox")


def sign(*, secret: str, body: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def headers_for(delivery: Delivery) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": sign(secret=delivery.secret, body=delivery.body),
    }


@dataclass
class Dispatcher:
    """Sends deliveries according to `mode`; keeps a log of every attempt."""

    mode: str = "sync"
    # What `reset()` returns to: tests start in sync mode, the standalone server in async.
    default_mode: str = "sync"
    max_attempts: int = 5
    backoff_seconds: float = 0.5
    timeout_seconds: float = 10.0
    outbox: list[Delivery] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _queue: queue.Queue[Delivery | None] = field(default_factory=queue.Queue)
    _idle: threading.Condition = field(default_factory=threading.Condition)
    _in_flight: int = 0
    _worker: threading.Thread | None = None

    def dispatch(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        if self.mode == "outbox":
            with self._lock:
                self.outbox.extend(deliveries)
        elif self.mode == "async":
            self._ensure_worker()
            with self._idle:
                self._in_flight += len(deliveries)
            for delivery in deliveries:
                self._queue.put(delivery)
        else:
            for delivery in deliveries:
                self._attempt(delivery)

    def drain_outbox(self) -> list[Delivery]:
        with self._lock:
            taken, self.outbox = self.outbox, []
        return taken

    def reset(self) -> None:
        self.wait_idle(timeout=self.timeout_seconds)
        with self._lock:
            self.outbox = []
            self.log = []
        self.mode = self.default_mode

    def wait_idle(self, *, timeout: float) -> bool:
        """Block until async deliveries (with their retries) are finished."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def stop(self) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=5)
            self._worker = None

    # internals ---------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(
                target=self._run, name="stripe-emulator-webhooks", daemon=True
            )
            self._worker.start()

    def _run(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            try:
                while not self._attempt(delivery) and delivery.attempts < self.max_attempts:
                    # Exponential backoff, bounded so a dead receiver cannot stall tests.
                    time.sleep(min(self.backoff_seconds * 2 ** (delivery.attempts - 1), 30))
            finally:
                with self._idle:
                    self._in_flight -= 1
                    self._idle.notify_all()

    def _attempt(self, delivery: Delivery) -> bool:
        delivery.attempts += 1
        request = urllib.request.Request(
            delivery.url,
            data=delivery.body.encode(),
            headers=headers_for(delivery),
            method="POST",
        )
        status: int | None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except (urllib.error.URLError, OSError):
            status = None
        ok = status is not None and 200 <= status < 300
        with self._lock:
            self.log.append(
                {
                    "event_id": delivery.event_id,
                    "event_type": delivery.event_type,
                    "url": delivery.url,
                    "attempt": delivery.attempts,
                    "status": status,
                    "ok": ok,
                    "time": time.time(),
                }
            )
        return ok
