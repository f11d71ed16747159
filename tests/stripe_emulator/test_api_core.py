"""Contract tests for the protocol: auth, parameter checking, error shapes, idempotency,
pagination and expansion, all driven through stripe-python."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
import stripe

from stripe_emulator.pytest_plugin import EmulatorHandle


def raw_request(
    emu: EmulatorHandle, method: str, path: str, *, body: str = "", auth: str | None = None
) -> tuple[int, dict]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if auth is not None:
        headers["Authorization"] = auth
    request = urllib.request.Request(
        emu.url + path, data=body.encode() or None, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_account_is_retrievable(emu):
    account = stripe.Account.retrieve()
    assert account.object == "account"
    assert account.id.startswith("acct_")


def test_missing_api_key_is_401_with_stripe_error_shape(emu):
    status, body = raw_request(emu, "GET", "/v1/customers")
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert "did not provide an API key" in body["error"]["message"]


def test_basic_auth_with_the_key_as_user_is_accepted_like_curl_u(emu):
    token = base64.b64encode(b"sk_test_curl:").decode()
    status, body = raw_request(emu, "GET", "/v1/customers", auth=f"Basic {token}")
    assert (status, body["object"]) == (200, "list")


def test_garbage_api_key_is_rejected_by_stripe_python(emu):
    with pytest.raises(stripe.AuthenticationError) as caught:
        stripe.Customer.list(api_key="pk_live_nope")
    assert caught.value.http_status == 401
    assert caught.value.json_body["error"]["code"] == "api_key_invalid"


def test_unknown_parameter_is_rejected_and_creates_nothing(emu):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Customer.create(email="a@example.test", favourite_colour="blue")
    error = caught.value
    assert error.http_status == 400
    assert error.param == "favourite_colour"
    assert error.user_message == "Received unknown parameter: favourite_colour"
    assert stripe.Customer.list().data == []


def test_unknown_nested_parameter_names_its_full_path(emu, teams_monthly, customer):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Subscription.create(
            customer=customer.id, items=[{"price": teams_monthly.id, "seats": 3}]
        )
    assert caught.value.param == "items[0][seats]"
    assert caught.value.user_message == "Received unknown parameter: items[0][seats]"


def test_wrong_type_is_rejected_with_stripe_code(emu, teams_monthly, customer):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Subscription.create(
            customer=customer.id, items=[{"price": teams_monthly.id, "quantity": "three"}]
        )
    assert caught.value.code == "parameter_invalid_integer"
    assert caught.value.param == "items[0][quantity]"
    assert stripe.Subscription.list(customer=customer.id).data == []


def test_missing_required_parameter(emu):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Price.create(unit_amount=100, product_data={"name": "X"})
    assert caught.value.code == "parameter_missing"
    assert caught.value.param == "currency"


def test_unknown_id_in_url_is_404_resource_missing(emu):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Customer.retrieve("cus_doesnotexist")
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"
    assert caught.value.user_message == "No such customer: 'cus_doesnotexist'"


def test_unknown_id_in_params_is_400_naming_the_param(emu, teams_monthly):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Subscription.create(customer="cus_nope", items=[{"price": teams_monthly.id}])
    assert caught.value.http_status == 400
    assert caught.value.param == "customer"


def test_unrecognized_url_is_404(emu):
    status, body = raw_request(emu, "GET", "/v1/nothing_here", auth="Bearer sk_test_x")
    assert status == 404
    assert body["error"]["message"].startswith("Unrecognized request URL (GET: /v1/nothing_here)")


def test_idempotency_key_replays_the_first_response(emu):
    first = stripe.Customer.create(email="a@example.test", idempotency_key="key-1")
    second = stripe.Customer.create(email="a@example.test", idempotency_key="key-1")
    assert first.id == second.id
    assert len(stripe.Customer.list().data) == 1
    log = emu.control.requests(method="POST", path="/v1/customers")
    assert [e["replayed"] for e in log] == [False, True]
    assert {e["idempotency_key"] for e in log} == {"key-1"}


def test_idempotency_key_with_different_params_is_an_idempotency_error(emu):
    stripe.Customer.create(email="a@example.test", idempotency_key="key-2")
    with pytest.raises(stripe.IdempotencyError) as caught:
        stripe.Customer.create(email="b@example.test", idempotency_key="key-2")
    assert caught.value.http_status == 400
    assert len(stripe.Customer.list().data) == 1


def test_failed_validation_is_not_saved_under_the_idempotency_key(emu):
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Customer.create(email="a@example.test", bogus="1", idempotency_key="key-3")
    created = stripe.Customer.create(email="a@example.test", idempotency_key="key-3")
    assert created.email == "a@example.test"


def test_list_pagination_with_starting_after(emu):
    ids = [stripe.Customer.create(email=f"c{i}@example.test").id for i in range(5)]
    first = stripe.Customer.list(limit=2)
    assert [c.id for c in first.data] == ids[::-1][:2]
    assert first.has_more is True
    rest = stripe.Customer.list(limit=10, starting_after=first.data[-1].id)
    assert [c.id for c in rest.data] == ids[::-1][2:]
    assert rest.has_more is False
    assert [c.id for c in stripe.Customer.list().auto_paging_iter()] == ids[::-1]


def test_limit_out_of_range_is_rejected(emu):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Customer.list(limit=0)
    assert caught.value.param == "limit"


def test_expand_replaces_ids_with_objects(emu, teams_monthly, customer):
    sub = stripe.Subscription.create(
        customer=customer.id,
        items=[{"price": teams_monthly.id, "quantity": 2}],
        expand=["latest_invoice", "customer", "items.data.price.product"],
    )
    assert sub.latest_invoice.object == "invoice"
    assert sub.customer.id == customer.id
    assert sub["items"].data[0].price.product.name == "Teams"
    listed = stripe.Subscription.list(customer=customer.id, expand=["data.latest_invoice"])
    assert listed.data[0].latest_invoice.amount_paid == 3600


def test_expanding_a_non_expandable_field_is_rejected(emu, customer):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Customer.retrieve(customer.id, expand=["email"])
    assert "cannot be expanded" in caught.value.user_message


def test_metadata_merges_and_empty_value_deletes(emu):
    cust = stripe.Customer.create(metadata={"org": "1", "plan": "teams"})
    cust = stripe.Customer.modify(cust.id, metadata={"plan": "", "region": "eu"})
    assert cust.metadata.to_dict() == {"org": "1", "region": "eu"}


def test_reset_forgets_everything(emu):
    stripe.Customer.create(email="a@example.test")
    emu.control.reset()
    assert emu.control.requests() == []
    assert stripe.Customer.list().data == []
