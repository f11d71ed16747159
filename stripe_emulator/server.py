"""The HTTP server: Stripe's /v1 API, the control API under /_emulator, and the hosted
Checkout and portal pages.

Each API request goes through, in order: auth, rate limit, injected faults, latency,
parameter decoding, idempotency, parameter checking, the handler (under the store lock),
then webhook delivery (after the lock, before the response in sync mode).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import html
import json
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from stripe_emulator import params as params_mod
from stripe_emulator import resources  # noqa: F401  (registers routes)
from stripe_emulator.errors import StripeError
from stripe_emulator.resources.checkout import checkout_complete, success_redirect
from stripe_emulator.routing import Call, check_supported, resolve
from stripe_emulator.store import API_VERSION, Store
from stripe_emulator.webhooks import MODES, Dispatcher, headers_for

# 429 here is a rate-limit answer on demand, for the next N matching requests only
# (the sliding `rate_limit` budget depends on wall-clock timing; tests need exact counts).
FAULT_STATUSES = (429, 500, 502, 503, "timeout")


@dataclass
class Faults:
    fail_next: int = 0
    status: int | str = 500
    match_path: str | None = None
    match_method: str | None = None
    after_apply: bool = False
    rate_limit_rps: int | None = None
    latency_ms: int = 0
    _window: collections.deque[float] = field(default_factory=collections.deque)

    def take(self, *, method: str, path: str) -> int | str | None:
        """Consume one injected failure if this request matches."""
        if self.fail_next <= 0:
            return None
        if self.match_method and self.match_method.upper() != method:
            return None
        if self.match_path and not path.startswith(self.match_path):
            return None
        self.fail_next -= 1
        return self.status

    def over_budget(self) -> bool:
        """Sliding one-second window, like Stripe's per-second request budget."""
        if self.rate_limit_rps is None:
            return False
        now = time.monotonic()
        while self._window and now - self._window[0] >= 1.0:
            self._window.popleft()
        if len(self._window) >= self.rate_limit_rps:
            return True
        self._window.append(now)
        return False


@dataclass
class Emulator:
    """Everything one emulator instance holds; `reset()` returns it to a fresh state."""

    store: Store = field(default_factory=Store)
    faults: Faults = field(default_factory=Faults)
    dispatcher: Dispatcher = field(default_factory=Dispatcher)
    requests: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    control_lock: threading.Lock = field(default_factory=threading.Lock)
    base_url: str = "http://127.0.0.1"

    def reset(self) -> None:
        self.dispatcher.reset()
        with self.store.lock, self.control_lock:
            self.store = Store(base_url=self.base_url)
            self.faults = Faults()
            self.requests = []
            self.idempotency = {}


def _stripe_error_response(error: StripeError) -> tuple[int, dict[str, Any]]:
    return error.status, error.body()


def _fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    raw = json.dumps([method, path, params], sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle plus delayed ACKs
    # cost ~40 ms per keep-alive request.
    disable_nagle_algorithm = True
    server_version = "StripeEmulator/1.0"
    emulator: Emulator  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request log lives in the emulator, not on stderr

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # plumbing -------------------------------------------------------------------

    def _body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode() if length else ""

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers=headers)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        try:
            if path.startswith("/v1/"):
                self._api(method, path, url.query)
            elif path.startswith("/_emulator"):
                self._control(method, path)
            elif path.startswith("/checkout/"):
                self._checkout_page(method, path)
            elif path.startswith("/portal/"):
                self._portal_page(path)
            else:
                self._send(404, b"not found", content_type="text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:
            # A bug in the emulator must surface as Stripe's api_error, not a dropped socket.
            traceback.print_exc()
            error = StripeError(
                status=500, type="api_error", message="Internal error in the Stripe emulator."
            )
            self._json(500, error.body())

    # Stripe API -----------------------------------------------------------------

    def _api(self, method: str, path: str, query: str) -> None:
        emu = self.emulator
        raw_body = self._body()
        started = time.time()
        request_id = "req_" + uuid.uuid4().hex[:14]
        idempotency_key = self.headers.get("Idempotency-Key")
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "params": {},
            "idempotency_key": idempotency_key,
            "status": None,
            "time": started,
            "request_id": request_id,
            "fault": None,
            "replayed": False,
        }
        headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
        status, body, fault = self._api_inner(method, path, query, raw_body, entry, headers)
        entry["status"] = "timeout" if fault == "timeout" else status
        with emu.control_lock:
            emu.requests.append(entry)
        if fault == "timeout":
            # Drop the connection without answering: the client sees a network failure.
            self.close_connection = True
            return
        self._json(status, body, headers)

    def _api_inner(
        self,
        method: str,
        path: str,
        query: str,
        raw_body: str,
        entry: dict[str, Any],
        headers: dict[str, str],
    ) -> tuple[int, dict[str, Any], str | None]:
        emu = self.emulator
        auth_error = self._auth_error()
        if auth_error is not None:
            return auth_error.status, auth_error.body(), None
        with emu.control_lock:
            limited = emu.faults.over_budget()
            fault = emu.faults.take(method=method, path=path)
            after_apply = emu.faults.after_apply
            latency = emu.faults.latency_ms
        if limited:
            error = StripeError.invalid(
                message="Request rate limit exceeded. You can make up to "
                f"{emu.faults.rate_limit_rps} requests per second. Learn more about rate "
                "limits here https://stripe.com/docs/rate-limits.",
                code="rate_limit",
                status=429,
            )
            entry["fault"] = "rate_limit"
            return 429, error.body(), None
        if latency:
            time.sleep(latency / 1000)
        if fault is not None:
            entry["fault"] = fault
            if not after_apply:
                return self._fault_response(fault)
        form = raw_body if method == "POST" else query
        if method == "DELETE" and raw_body:
            form = raw_body
        decoded = params_mod.form_decode(body=form)
        entry["params"] = decoded
        status, body = self._api_apply(method, path, decoded, entry, headers)
        if fault is not None:
            # The change was applied, but the client never learns it: the dangerous case.
            return self._fault_response(fault)
        return status, body, None

    def _fault_response(self, fault: int | str) -> tuple[int, dict[str, Any], str | None]:
        if fault == "timeout":
            return 0, {}, "timeout"
        if fault == 429:
            error = StripeError.invalid(
                message="Request rate limit exceeded (injected by the Stripe emulator).",
                code="rate_limit",
                status=429,
            )
            return error.status, error.body(), None
        error = StripeError(
            status=int(fault),
            type="api_error",
            message="An unknown error occurred (injected by the Stripe emulator).",
        )
        return error.status, error.body(), None

    def _api_apply(
        self,
        method: str,
        path: str,
        decoded: dict[str, Any],
        entry: dict[str, Any],
        headers: dict[str, str],
    ) -> tuple[int, dict[str, Any]]:
        emu = self.emulator
        key = entry["idempotency_key"] if method == "POST" else None
        fingerprint = _fingerprint(method, path, decoded)
        found = resolve(method, path)
        if found is None:
            error = StripeError.invalid(
                message=f"Unrecognized request URL ({method}: {path}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                status=404,
            )
            return error.status, error.body()
        rt, ids = found
        store = emu.store
        with store.lock:
            if key is not None and key in emu.idempotency:
                first_fingerprint, status, body = emu.idempotency[key]
                if first_fingerprint != fingerprint:
                    error = StripeError(
                        status=400,
                        type="idempotency_error",
                        message="Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                    )
                    return error.status, error.body()
                entry["replayed"] = True
                headers["Idempotent-Replayed"] = "true"
                headers["Original-Request"] = body.get("_request_id", "")
                return status, {k: v for k, v in body.items() if k != "_request_id"}
            try:
                params = params_mod.validate(params=decoded, class_name=rt.params_class)
                check_supported(rt, params)
            except StripeError as error:
                # Stripe saves no idempotent result for requests that fail validation.
                return error.status, error.body()
            store.request_id = entry["request_id"]
            store.request_idempotency_key = key
            try:
                status, body = 200, rt.handler(Call(store=store, params=params, ids=ids))
            except StripeError as error:
                status, body = error.status, error.body()
            finally:
                store.request_id = store.request_idempotency_key = None
            deliveries = store.take_outgoing()
            if key is not None:
                emu.idempotency[key] = (
                    fingerprint,
                    status,
                    {**body, "_request_id": entry["request_id"]},
                )
        emu.dispatcher.dispatch(deliveries)
        return status, body

    def _auth_error(self) -> StripeError | None:
        header = self.headers.get("Authorization") or ""
        if not header:
            return StripeError.invalid(
                message="You did not provide an API key. You need to provide your API key in "
                "the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
                status=401,
            )
        scheme, _, key = header.partition(" ")
        if scheme == "Basic":
            # `curl -u sk_test_...:` as in Stripe's docs: the key is the user name.
            try:
                key = base64.b64decode(key).decode().partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
            scheme = "Bearer"
        if scheme != "Bearer" or not key.startswith("sk_test_") or len(key) <= len("sk_test_"):
            shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if key else ""
            return StripeError.invalid(
                message=f"Invalid API Key provided: {shown}",
                code="api_key_invalid",
                status=401,
            )
        return None

    # control API --------------------------------------------------------------------

    def _control(self, method: str, path: str) -> None:
        emu = self.emulator
        raw = self._body()
        try:
            payload = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            self._json(400, {"error": "body must be JSON"})
            return
        action = path.removeprefix("/_emulator").strip("/")
        try:
            result = self._control_action(emu, method, action, payload)
        except (ValueError, KeyError, TypeError) as error:
            self._json(400, {"error": str(error)})
            return
        except StripeError as error:
            self._json(error.status, error.body())
            return
        if result is None:
            self._json(404, {"error": f"unknown control action {method} {action}"})
        else:
            self._json(200, result)

    def _control_action(
        self, emu: Emulator, method: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any] | None:
        if (method, action) == ("GET", "health"):
            return {"ok": True, "api_version": API_VERSION}
        if (method, action) == ("POST", "reset"):
            emu.reset()
            return {"ok": True}
        if (method, action) == ("POST", "faults"):
            status = payload.get("status", 500)
            if status not in FAULT_STATUSES:
                raise ValueError(f"status must be one of {FAULT_STATUSES}")
            fail_next = int(payload.get("fail_next", 1))
            if fail_next < 0:
                raise ValueError("fail_next must be >= 0")
            with emu.control_lock:
                emu.faults.fail_next = fail_next
                emu.faults.status = status
                emu.faults.match_path = payload.get("match_path")
                emu.faults.match_method = payload.get("match_method")
                emu.faults.after_apply = bool(payload.get("after_apply", False))
            return {"ok": True}
        if (method, action) == ("DELETE", "faults"):
            with emu.control_lock:
                emu.faults.fail_next = 0
                emu.faults.rate_limit_rps = None
                emu.faults.latency_ms = 0
            return {"ok": True}
        if (method, action) == ("POST", "rate_limit"):
            rps = payload.get("rps")
            if rps is not None and (not isinstance(rps, int) or rps < 1):
                raise ValueError("rps must be a positive integer or null")
            with emu.control_lock:
                emu.faults.rate_limit_rps = rps
                emu.faults._window.clear()
            return {"ok": True}
        if (method, action) == ("POST", "latency"):
            ms = payload.get("ms", 0)
            if not isinstance(ms, int) or ms < 0:
                raise ValueError("ms must be a non-negative integer")
            emu.faults.latency_ms = ms
            return {"ok": True}
        if (method, action) == ("GET", "requests"):
            with emu.control_lock:
                return {"requests": list(emu.requests)}
        if (method, action) == ("DELETE", "requests"):
            with emu.control_lock:
                emu.requests = []
            return {"ok": True}
        if action.startswith("webhooks"):
            return self._control_webhooks(emu, method, action, payload)
        if method == "POST" and action.startswith("checkout/") and action.endswith("/complete"):
            session_id = action.split("/")[1]
            return self._complete(
                session_id, card=payload.get("card", "4242424242424242"), email=payload.get("email")
            )
        return None

    def _control_webhooks(
        self, emu: Emulator, method: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any] | None:
        dispatcher = emu.dispatcher
        if (method, action) == ("POST", "webhooks/mode"):
            mode = payload.get("mode")
            if mode not in MODES:
                raise ValueError(f"mode must be one of {MODES}")
            dispatcher.mode = mode
            if "max_attempts" in payload:
                dispatcher.max_attempts = max(1, int(payload["max_attempts"]))
            if "backoff_seconds" in payload:
                dispatcher.backoff_seconds = max(0.0, float(payload["backoff_seconds"]))
            return {"ok": True}
        if action in ("webhooks/outbox", "webhooks/outbox/drain"):
            if method == "GET" and action == "webhooks/outbox":
                with dispatcher._lock:
                    pending = list(dispatcher.outbox)
            elif method == "POST" and action == "webhooks/outbox/drain":
                pending = dispatcher.drain_outbox()
            else:
                return None
            return {
                "deliveries": [
                    {
                        "url": d.url,
                        "event_id": d.event_id,
                        "event_type": d.event_type,
                        "headers": headers_for(d),
                        "body": d.body,
                    }
                    for d in pending
                ]
            }
        if (method, action) == ("GET", "webhooks/log"):
            with dispatcher._lock:
                return {"attempts": list(dispatcher.log)}
        if (method, action) == ("POST", "webhooks/wait"):
            idle = dispatcher.wait_idle(timeout=float(payload.get("timeout", 10)))
            return {"idle": idle}
        return None

    def _complete(self, session_id: str, *, card: str, email: str | None) -> dict[str, Any]:
        emu = self.emulator
        with emu.store.lock:
            try:
                session = checkout_complete(
                    emu.store, session_id=session_id, card=card, email=email
                )
            finally:
                deliveries = emu.store.take_outgoing()
            result = {"session": emu.store.render(session), "redirect": success_redirect(session)}
        emu.dispatcher.dispatch(deliveries)
        return result

    # hosted pages -----------------------------------------------------------------

    def _checkout_page(self, method: str, path: str) -> None:
        parts = path.strip("/").split("/")
        session_id = parts[1] if len(parts) > 1 else ""
        store = self.emulator.store
        with store.lock:
            session = store.find(session_id, kind="checkout.session")
            page_data = store.render(session) if session else None
        if page_data is None:
            self._send(404, b"No such checkout session", content_type="text/plain")
            return
        if method == "POST" and parts[-1] == "pay":
            form = dict(parse_qsl(self._body()))
            try:
                result = self._complete(
                    session_id, card=form.get("card", ""), email=form.get("email") or None
                )
            except StripeError as error:
                self._send(
                    402,
                    _checkout_html(page_data, error=error.message).encode(),
                    content_type="text/html; charset=utf-8",
                )
                return
            self._send(
                303, b"", content_type="text/plain", headers={"Location": result["redirect"]}
            )
            return
        if method == "POST" and parts[-1] == "cancel":
            self._send(
                303,
                b"",
                content_type="text/plain",
                headers={"Location": page_data["cancel_url"] or "/"},
            )
            return
        self._send(
            200,
            _checkout_html(page_data, error=None).encode(),
            content_type="text/html; charset=utf-8",
        )

    def _portal_page(self, path: str) -> None:
        session_id = path.strip("/").split("/")[-1]
        store = self.emulator.store
        with store.lock:
            session = store.find(session_id, kind="billing_portal.session")
        if session is None:
            self._send(404, b"No such portal session", content_type="text/plain")
            return
        back = html.escape(session["return_url"] or "/")
        page = (
            "<!doctype html><title>Billing portal (emulated)</title>"
            f"<h1>Billing portal</h1><p>Customer {html.escape(session['customer'])}</p>"
            f'<a id="return" href="{back}">Return</a>'
        )
        self._send(200, page.encode(), content_type="text/html; charset=utf-8")


def _checkout_html(session: dict[str, Any], *, error: str | None) -> str:
    amount = f"{(session['amount_total'] or 0) / 100:.2f} {session['currency'].upper()}"
    email_field = (
        ""
        if session["customer"] or session["customer_email"]
        else '<label>Email <input name="email" type="email" required></label>'
    )
    error_html = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    closed = session["status"] != "open"
    sid = html.escape(session["id"])
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Checkout (Stripe emulator)</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto}}
.error{{color:#b00020}} input{{display:block;margin:.5rem 0 1rem;width:100%}}</style></head>
<body><h1>Pay {amount}</h1>
<p>Test mode. Use 4242 4242 4242 4242 to succeed, 4000 0000 0000 0002 to decline.</p>
{error_html}
{"<p>This session is " + html.escape(session["status"]) + ".</p>" if closed else ""}
<form method="post" action="/checkout/{sid}/pay">
{email_field}
<label>Card number <input name="card" inputmode="numeric" autocomplete="cc-number"
 value="4242 4242 4242 4242" required></label>
<button type="submit" id="pay" {"disabled" if closed else ""}>Pay</button></form>
<form method="post" action="/checkout/{sid}/cancel"><button type="submit">Cancel</button></form>
</body></html>"""


class EmulatorServer:
    """Run the emulator in a background thread: `EmulatorServer(port=0).start()`."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, webhook_mode: str = "sync"
    ) -> None:
        if webhook_mode not in MODES:
            raise ValueError(f"webhook_mode must be one of {MODES}")
        self.emulator = Emulator()
        self.emulator.dispatcher.mode = self.emulator.dispatcher.default_mode = webhook_mode
        handler = type("BoundHandler", (Handler,), {"emulator": self.emulator})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self.host, self.port = self._httpd.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self.emulator.base_url = self.url
        self.emulator.store.base_url = self.url
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="stripe-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self.emulator.dispatcher.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
