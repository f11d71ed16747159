"""Contract tests for customers, products, prices, payment methods, events and webhook
endpoints, driven through stripe-python."""

from __future__ import annotations

import pytest
import stripe

from tests.stripe_emulator.conftest import customer_with_card


def test_customer_create_retrieve_modify_delete(emu):
    cust = stripe.Customer.create(email="a@example.test", name="Acme", metadata={"org": "7"})
    assert cust.id.startswith("cus_")
    fetched = stripe.Customer.retrieve(cust.id)
    assert (fetched.email, fetched.name, fetched.metadata["org"]) == ("a@example.test", "Acme", "7")
    assert stripe.Customer.modify(cust.id, name="Acme Inc").name == "Acme Inc"
    deleted = stripe.Customer.delete(cust.id)
    assert deleted.deleted is True
    assert stripe.Customer.retrieve(cust.id).deleted is True
    assert stripe.Customer.list().data == []


def test_customer_list_filters_by_email(emu):
    stripe.Customer.create(email="a@example.test")
    b = stripe.Customer.create(email="b@example.test")
    assert [c.id for c in stripe.Customer.list(email="b@example.test").data] == [b.id]


def test_customer_default_payment_method_must_be_attached(emu):
    cust = stripe.Customer.create(email="a@example.test")
    pm = stripe.PaymentMethod.create(type="card", card={"token": "tok_visa"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Customer.modify(cust.id, invoice_settings={"default_payment_method": pm.id})
    assert caught.value.param == "invoice_settings[default_payment_method]"
    assert stripe.Customer.retrieve(cust.id).invoice_settings.default_payment_method is None


def test_product_and_prices_with_lookup_keys(emu):
    product = stripe.Product.create(name="Teams", metadata={"tier": "teams"})
    monthly = stripe.Price.create(
        product=product.id,
        currency="usd",
        unit_amount=1800,
        recurring={"interval": "month"},
        lookup_key="teams_monthly",
    )
    annual = stripe.Price.create(
        product=product.id,
        currency="usd",
        unit_amount=18000,
        recurring={"interval": "year"},
        lookup_key="teams_annual",
    )
    assert (monthly.recurring.interval, monthly.unit_amount, monthly.type) == (
        "month",
        1800,
        "recurring",
    )
    found = stripe.Price.list(lookup_keys=["teams_annual"])
    assert [p.id for p in found.data] == [annual.id]
    assert {p.id for p in stripe.Price.list(product=product.id).data} == {monthly.id, annual.id}
    assert stripe.Product.retrieve(product.id).metadata["tier"] == "teams"


def test_duplicate_lookup_key_is_refused_unless_transferred(emu):
    product = stripe.Product.create(name="Teams")
    first = stripe.Price.create(
        product=product.id,
        currency="usd",
        unit_amount=1800,
        recurring={"interval": "month"},
        lookup_key="teams_monthly",
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Price.create(
            product=product.id,
            currency="usd",
            unit_amount=2000,
            recurring={"interval": "month"},
            lookup_key="teams_monthly",
        )
    assert caught.value.param == "lookup_key"
    second = stripe.Price.create(
        product=product.id,
        currency="usd",
        unit_amount=2000,
        recurring={"interval": "month"},
        lookup_key="teams_monthly",
        transfer_lookup_key=True,
    )
    assert stripe.Price.retrieve(first.id).lookup_key is None
    assert stripe.Price.list(lookup_keys=["teams_monthly"]).data[0].id == second.id


def test_product_with_prices_cannot_be_deleted(emu, teams_monthly):
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Product.delete(teams_monthly.product)
    assert stripe.Product.retrieve(teams_monthly.product).name == "Teams"


def test_payment_method_from_card_number_attaches_and_detaches(emu):
    cust = stripe.Customer.create(email="a@example.test")
    pm = stripe.PaymentMethod.create(
        type="card",
        card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
    )
    assert (pm.card.last4, pm.card.brand, pm.customer) == ("4242", "visa", None)
    attached = stripe.PaymentMethod.attach(pm.id, customer=cust.id)
    assert attached.customer == cust.id
    assert [p.id for p in stripe.Customer.list_payment_methods(cust.id).data] == [pm.id]
    assert stripe.PaymentMethod.detach(pm.id).customer is None


@pytest.mark.parametrize(
    ("card", "decline_code"),
    [("4000000000000002", "generic_decline"), ("4000000000009995", "insufficient_funds")],
)
def test_declining_cards_fail_to_attach_with_card_error(emu, card, decline_code):
    cust = stripe.Customer.create(email="a@example.test")
    pm = stripe.PaymentMethod.create(
        type="card", card={"number": card, "exp_month": 1, "exp_year": 2035}
    )
    with pytest.raises(stripe.CardError) as caught:
        stripe.PaymentMethod.attach(pm.id, customer=cust.id)
    assert caught.value.http_status == 402
    assert caught.value.code == "card_declined"
    assert caught.value.json_body["error"]["decline_code"] == decline_code
    assert stripe.PaymentMethod.retrieve(pm.id).customer is None


def test_charge_failing_card_attaches(emu):
    cust = customer_with_card(card="pm_card_chargeCustomerFail")
    pm_id = cust.invoice_settings.default_payment_method
    assert stripe.PaymentMethod.retrieve(pm_id).card.last4 == "0341"


def test_unknown_card_number_is_incorrect_number(emu):
    with pytest.raises(stripe.CardError) as caught:
        stripe.PaymentMethod.create(
            type="card", card={"number": "1234123412341234", "exp_month": 1, "exp_year": 2035}
        )
    assert caught.value.code == "incorrect_number"


def test_webhook_endpoint_secret_is_shown_on_create_only(emu):
    endpoint = stripe.WebhookEndpoint.create(
        url="http://127.0.0.1:9/hooks", enabled_events=["customer.subscription.updated"]
    )
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.status == "enabled"
    assert "secret" not in stripe.WebhookEndpoint.retrieve(endpoint.id)
    updated = stripe.WebhookEndpoint.modify(endpoint.id, enabled_events=["*"])
    assert updated.enabled_events == ["*"]
    assert stripe.WebhookEndpoint.delete(endpoint.id).deleted is True


def test_webhook_endpoint_rejects_bad_url(emu):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.WebhookEndpoint.create(url="not a url", enabled_events=["*"])
    assert caught.value.param == "url"
    assert stripe.WebhookEndpoint.list().data == []


def test_events_are_listed_newest_first_and_retrievable(emu):
    cust = stripe.Customer.create(email="a@example.test")
    stripe.Customer.modify(cust.id, name="Acme")
    events = stripe.Event.list()
    assert [e.type for e in events.data] == ["customer.updated", "customer.created"]
    updated = stripe.Event.retrieve(events.data[0].id)
    assert updated.data.object.name == "Acme"
    assert updated.data.previous_attributes.to_dict() == {"name": None}
    assert [e.type for e in stripe.Event.list(type="customer.created").data] == ["customer.created"]


def test_billing_portal_session_returns_a_url(emu):
    cust = stripe.Customer.create(email="a@example.test")
    session = stripe.billing_portal.Session.create(
        customer=cust.id, return_url="http://localhost/billing"
    )
    assert session.url.startswith(emu.url + "/portal/")
    assert session.return_url == "http://localhost/billing"
