"""Checkout Sessions: the hosted page served by the emulator, its Pay button, declines,
and the control shortcut that does the same."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

import pytest
import stripe

from stripe_emulator.control import ControlError
from tests.stripe_emulator.conftest import event_types


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def submit(url: str, form: dict[str, str]) -> tuple[int, str, str | None]:
    opener = urllib.request.build_opener(NoRedirect)
    data = urllib.parse.urlencode(form).encode()
    try:
        with opener.open(url, data=data) as response:
            return response.status, response.read().decode(), response.headers.get("Location")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers.get("Location")


def session_for(price, **extra) -> stripe.checkout.Session:
    return stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": price.id, "quantity": 4}],
        success_url="http://app.test/billing/success?session={CHECKOUT_SESSION_ID}",
        cancel_url="http://app.test/billing",
        client_reference_id="org_17",
        metadata={"org": "17"},
        subscription_data={"metadata": {"org": "17", "tier": "teams"}},
        **extra,
    )


def test_hosted_page_pays_and_redirects(emu, receiver, teams_monthly):
    stripe.WebhookEndpoint.create(url=receiver.url, enabled_events=["checkout.session.completed"])
    session = session_for(teams_monthly, customer_email="new@example.test")
    assert session.url == f"{emu.url}/checkout/{session.id}"
    with urllib.request.urlopen(session.url) as page:
        html = page.read().decode()
    assert 'name="card"' in html and "72.00 USD" in html
    status, _, location = submit(
        f"{emu.url}/checkout/{session.id}/pay", {"card": "4242 4242 4242 4242"}
    )
    assert status == 303
    assert location == f"http://app.test/billing/success?session={session.id}"
    done = stripe.checkout.Session.retrieve(session.id, expand=["subscription"])
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.client_reference_id == "org_17"
    sub = done.subscription
    assert (sub.status, sub["items"].data[0].quantity) == ("active", 4)
    assert sub.metadata.to_dict() == {"org": "17", "tier": "teams"}
    assert stripe.Customer.retrieve(done.customer).email == "new@example.test"
    assert event_types(receiver.received) == ["checkout.session.completed"]


def test_declined_card_shows_the_error_and_creates_nothing(emu, teams_monthly):
    session = session_for(teams_monthly, customer_email="new@example.test")
    status, html, _ = submit(f"{emu.url}/checkout/{session.id}/pay", {"card": "4000000000000002"})
    assert status == 402
    assert "Your card was declined." in html
    assert stripe.checkout.Session.retrieve(session.id).status == "open"
    assert stripe.Customer.list().data == []
    assert stripe.Subscription.list(status="all").data == []


def test_control_complete_uses_an_existing_customer_on_its_clock(emu, clock, teams_monthly):
    cust = stripe.Customer.create(email="acme@example.test", test_clock=clock.id)
    session = session_for(teams_monthly, customer=cust.id)
    result = emu.control.complete_checkout(session.id)
    assert result["redirect"].endswith(session.id)
    sub = stripe.Subscription.retrieve(result["session"]["subscription"])
    assert sub.customer == cust.id
    assert sub.start_date == clock.frozen_time
    assert sub.default_payment_method is not None
    with pytest.raises(ControlError):
        emu.control.complete_checkout(session.id)


def test_control_complete_reports_declines(emu, teams_monthly):
    session = session_for(teams_monthly, customer_email="new@example.test")
    with pytest.raises(ControlError) as caught:
        emu.control.complete_checkout(session.id, card="4000000000009995")
    assert caught.value.status == 402
    assert caught.value.body["error"]["decline_code"] == "insufficient_funds"


def test_checkout_refuses_other_modes_and_bad_quantities(emu, teams_monthly):
    with pytest.raises(stripe.InvalidRequestError):
        stripe.checkout.Session.create(
            mode="payment",
            line_items=[{"price": teams_monthly.id, "quantity": 1}],
            success_url="http://app.test/ok",
        )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.checkout.Session.create(
            mode="subscription",
            line_items=[{"price": teams_monthly.id, "quantity": 0}],
            success_url="http://app.test/ok",
        )
    assert caught.value.param == "line_items[0][quantity]"
    assert stripe.checkout.Session.list().data == []


def test_session_expire_and_line_items(emu, teams_monthly):
    session = session_for(teams_monthly, customer_email="new@example.test")
    items = stripe.checkout.Session.list_line_items(session.id)
    assert [(i.price.id, i.quantity, i.amount_total) for i in items.data] == [
        (teams_monthly.id, 4, 7200)
    ]
    assert stripe.checkout.Session.expire(session.id).status == "expired"
