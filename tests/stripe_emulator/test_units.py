"""Pure unit tests: form decoding, parameter checking against stripe-python's TypedDicts,
period arithmetic and the proration rounding rule."""

from __future__ import annotations

import datetime as dt

import pytest

from stripe_emulator.billing import add_interval, prorate
from stripe_emulator.errors import StripeError
from stripe_emulator.params import form_decode, validate


def ts(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


def test_form_decode_nests_hashes_lists_and_appended_arrays():
    decoded = form_decode(
        body="customer=cus_1&items[0][price]=p&items[0][quantity]=3&items[1][price]=q"
        "&expand[]=latest_invoice&expand[]=customer&metadata[org]=7"
    )
    assert decoded == {
        "customer": "cus_1",
        "items": {"0": {"price": "p", "quantity": "3"}, "1": {"price": "q"}},
        "expand": {"0": "latest_invoice", "1": "customer"},
        "metadata": {"org": "7"},
    }


def test_validate_coerces_declared_types():
    params = validate(
        params=form_decode(
            body="customer=cus_1&items[0][price]=p&items[0][quantity]=3"
            "&cancel_at_period_end=true&expand[]=latest_invoice"
        ),
        class_name="SubscriptionCreateParams",
    )
    assert params == {
        "customer": "cus_1",
        "items": [{"price": "p", "quantity": 3}],
        "cancel_at_period_end": True,
        "expand": ["latest_invoice"],
    }


def test_validate_resolves_namespaced_classes():
    params = validate(
        params={"frozen_time": "1700000000"}, class_name="test_helpers.TestClockAdvanceParams"
    )
    assert params == {"frozen_time": 1700000000}


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ("email=a&nope=1", "parameter_unknown", "nope"),
        ("invoice_settings[nope]=1", "parameter_unknown", "invoice_settings[nope]"),
        ("balance=ten", "parameter_invalid_integer", "balance"),
    ],
)
def test_validate_rejects_with_stripe_codes(body, code, param):
    with pytest.raises(StripeError) as caught:
        validate(params=form_decode(body=body), class_name="CustomerCreateParams")
    assert (caught.value.code, caught.value.param, caught.value.status) == (code, param, 400)


def test_validate_reports_missing_required_nested_param():
    with pytest.raises(StripeError) as caught:
        validate(
            params=form_decode(body="currency=usd&recurring[interval_count]=1"),
            class_name="PriceCreateParams",
        )
    assert (caught.value.code, caught.value.param) == ("parameter_missing", "recurring[interval]")


def test_validate_rejects_request_options_sent_as_params():
    with pytest.raises(StripeError) as caught:
        validate(params={"api_key": "sk_test_x"}, class_name="CustomerCreateParams")
    assert caught.value.code == "parameter_unknown"


def test_monthly_periods_clamp_to_month_end_and_keep_the_anchor_day():
    jan_31 = ts(2026, 1, 31, 12)
    feb_28 = add_interval(start=jan_31, interval="month", count=1)
    assert feb_28 == ts(2026, 2, 28, 12)
    assert add_interval(start=feb_28, interval="month", count=1, anchor_day=31) == ts(
        2026, 3, 31, 12
    )
    assert add_interval(start=ts(2026, 1, 1), interval="year", count=1) == ts(2027, 1, 1)
    assert add_interval(start=ts(2026, 1, 1), interval="week", count=2) == ts(2026, 1, 15)


@pytest.mark.parametrize(
    ("unit_amount", "quantity", "elapsed_fraction", "expected"),
    [
        (1800, 3, (1, 2), 2700),  # Teams, 3 seats, half the period left
        (1800, 5, (1, 2), 4500),
        (1800, 3, (1, 3), 3600),  # a third used, two thirds left
        (1800, 5, (1, 3), 6000),
        (1000, 1, (2, 3), 333),  # 333.33 rounds down
        (1000, 2, (2, 3), 667),  # 666.67 rounds up
        (1, 1, (1, 2), 1),  # exactly half a cent rounds half up
    ],
)
def test_prorate_rounds_each_line_to_the_nearest_cent(
    unit_amount, quantity, elapsed_fraction, expected
):
    start, end = 0, 2678400
    numerator, denominator = elapsed_fraction
    at = start + (end - start) * numerator // denominator
    assert prorate(unit_amount=unit_amount, quantity=quantity, start=start, end=end, at=at) == (
        expected
    )


def test_prorate_outside_the_period_is_bounded():
    assert prorate(unit_amount=1800, quantity=1, start=100, end=200, at=50) == 1800
    assert prorate(unit_amount=1800, quantity=1, start=100, end=200, at=250) == 0
