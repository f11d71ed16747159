"""Python client for the emulator's control API (`/_emulator/...`), outside Stripe's
namespace: reset, fault injection, the request log, webhook modes and the outbox, and
completing a Checkout Session as its hosted page would.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Literal

WebhookMode = Literal["sync", "async", "outbox"]


class ControlError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"emulator control call failed ({status}): {body}")
        self.status = status
        self.body = body


class EmulatorControl:
    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, action: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{self.url}/_emulator/{action}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                body = raw.decode(errors="replace")
            raise ControlError(error.code, body) from None

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")

    def reset(self) -> None:
        """Forget every object, event, fault, logged request and idempotency key."""
        self._call("POST", "reset", {})

    def set_faults(
        self,
        *,
        fail_next: int = 1,
        status: int | str = 500,
        match_path: str | None = None,
        match_method: str | None = None,
        after_apply: bool = False,
    ) -> None:
        """Fail the next N matching API requests with 429/500/502/503, or "timeout" (the
        connection is dropped unanswered). `after_apply=True` performs the request first,
        so the change happens but the client sees the failure."""
        self._call(
            "POST",
            "faults",
            {
                "fail_next": fail_next,
                "status": status,
                "match_path": match_path,
                "match_method": match_method,
                "after_apply": after_apply,
            },
        )

    def clear_faults(self) -> None:
        """Remove injected failures, the rate limit and latency."""
        self._call("DELETE", "faults")

    def set_rate_limit(self, rps: int | None = 100) -> None:
        self._call("POST", "rate_limit", {"rps": rps})

    def set_latency(self, ms: int) -> None:
        self._call("POST", "latency", {"ms": ms})

    def requests(
        self, *, method: str | None = None, path: str | None = None
    ) -> list[dict[str, Any]]:
        """The API request log, oldest first; filter by method and path prefix."""
        entries = self._call("GET", "requests")["requests"]
        return [
            e
            for e in entries
            if (method is None or e["method"] == method.upper())
            and (path is None or e["path"].startswith(path))
        ]

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def set_webhook_mode(
        self,
        mode: WebhookMode,
        *,
        max_attempts: int | None = None,
        backoff_seconds: float | None = None,
    ) -> None:
        payload: dict[str, Any] = {"mode": mode}
        if max_attempts is not None:
            payload["max_attempts"] = max_attempts
        if backoff_seconds is not None:
            payload["backoff_seconds"] = backoff_seconds
        self._call("POST", "webhooks/mode", payload)

    def webhook_outbox(self, *, drain: bool = False) -> list[dict[str, Any]]:
        """Pending signed deliveries (outbox mode): url, event_id, event_type, headers
        (with Stripe-Signature, signed now) and body. `drain=True` also empties it."""
        if drain:
            return self._call("POST", "webhooks/outbox/drain", {})["deliveries"]
        return self._call("GET", "webhooks/outbox")["deliveries"]

    def drain_webhook_outbox(self) -> list[dict[str, Any]]:
        return self.webhook_outbox(drain=True)

    def webhook_attempts(self) -> list[dict[str, Any]]:
        """Every delivery attempt made so far (sync and async): event, url, status, ok."""
        return self._call("GET", "webhooks/log")["attempts"]

    def wait_for_webhooks(self, *, timeout: float = 10.0) -> bool:
        """Block until async deliveries and their retries are done (no sleeping client)."""
        return self._call("POST", "webhooks/wait", {"timeout": timeout})["idle"]

    def complete_checkout(
        self, session_id: str, *, card: str = "4242424242424242", email: str | None = None
    ) -> dict[str, Any]:
        """Pay a Checkout Session as the hosted page's button does. Returns
        {"session": ..., "redirect": success_url}; raises ControlError(402) on a decline."""
        return self._call("POST", f"checkout/{session_id}/complete", {"card": card, "email": email})
