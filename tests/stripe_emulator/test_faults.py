"""Fault injection and the request log: 5xx, dropped connections, faults after the change
was applied (the case idempotency keys exist for), and rate limiting."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator.control import ControlError


@pytest.mark.parametrize("status", [500, 502])
def test_fail_next_returns_server_errors_without_applying(emu, status):
    emu.control.set_faults(fail_next=1, status=status)
    with pytest.raises(stripe.APIError) as caught:
        stripe.Customer.create(email="a@example.test")
    assert caught.value.http_status == status
    assert stripe.Customer.list().data == []
    assert stripe.Customer.create(email="a@example.test").email == "a@example.test"


def test_timeout_drops_the_connection(emu):
    emu.control.set_faults(fail_next=1, status="timeout")
    with pytest.raises(stripe.APIConnectionError):
        stripe.Customer.create(email="a@example.test")
    assert emu.control.requests()[0]["status"] == "timeout"


def test_faults_only_hit_matching_requests(emu):
    emu.control.set_faults(fail_next=1, status=500, match_path="/v1/products", match_method="POST")
    cust = stripe.Customer.create(email="a@example.test")
    with pytest.raises(stripe.APIError):
        stripe.Product.create(name="Teams")
    assert stripe.Customer.retrieve(cust.id).id == cust.id
    assert stripe.Product.create(name="Teams").name == "Teams"


def test_retry_with_idempotency_key_after_applied_failure_creates_once(emu):
    """The change reaches Stripe, the answer is lost; the retry must replay, not redo."""
    stripe.max_network_retries = 2
    emu.control.set_faults(fail_next=1, status=500, match_path="/v1/customers", after_apply=True)
    cust = stripe.Customer.create(email="once@example.test", idempotency_key="change-42")
    assert [c.id for c in stripe.Customer.list().data] == [cust.id]
    posts = emu.control.requests(method="POST", path="/v1/customers")
    assert [(p["status"], p["fault"], p["replayed"]) for p in posts] == [
        (500, 500, False),
        (200, None, True),
    ]
    assert {p["idempotency_key"] for p in posts} == {"change-42"}


def test_request_log_records_params_and_keys(emu):
    stripe.Customer.create(email="a@example.test", metadata={"org": "7"}, idempotency_key="k1")
    entry = emu.control.requests(method="POST")[0]
    assert entry["path"] == "/v1/customers"
    assert entry["params"] == {"email": "a@example.test", "metadata": {"org": "7"}}
    assert (entry["idempotency_key"], entry["status"]) == ("k1", 200)


def test_rate_limit_answers_429_with_stripe_rate_limit_error(emu):
    emu.control.set_rate_limit(rps=2)
    stripe.Customer.list()
    stripe.Customer.list()
    with pytest.raises(stripe.RateLimitError) as caught:
        stripe.Customer.list()
    assert caught.value.http_status == 429
    assert caught.value.json_body["error"]["code"] == "rate_limit"
    emu.control.clear_faults()
    assert stripe.Customer.list().data == []


def test_control_api_rejects_bad_fault_settings(emu):
    with pytest.raises(ControlError) as caught:
        emu.control.set_faults(fail_next=1, status=418)
    assert caught.value.status == 400
    with pytest.raises(ControlError):
        emu.control.set_rate_limit(rps=0)
    with pytest.raises(ControlError):
        emu.control.set_webhook_mode("carrier-pigeon")  # type: ignore[arg-type]
    assert stripe.Customer.create(email="a@example.test").email == "a@example.test"
