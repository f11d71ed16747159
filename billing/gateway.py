"""The Stripe gateway: the one module that writes to Stripe.

Every call names the pinned API version and the secret key, and every write carries an
idempotency key chosen by the caller from the business operation (a pending change's
id, a seat change's absolute target), so a retry after a crash or a timeout is replayed
by Stripe instead of applied twice.

Stripe's exceptions are mapped to three of ours, which is all the callers need to know:
``PaymentDeclined`` (tell the user), ``StripeTransient`` (retry with backoff) and
``StripeInvalid`` (a bug or bad state: do not retry). A 429 is ``StripeRateLimited``, a
``StripeTransient`` that says when to retry: Stripe's budget is per second, so the
answer is "again in a second", not an exponential backoff. Objects come back as plain
dicts. Ids are logged at debug level only, never whole objects.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any

import stripe
from django.conf import settings
from djstripe.settings import djstripe_settings

logger = logging.getLogger(__name__)


class StripeGatewayError(Exception):
    def __init__(self, message: str, *, code: str = "", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class PaymentDeclined(StripeGatewayError):
    """The card was declined or could not be charged; the message is safe to show."""


class StripeTransient(StripeGatewayError):
    """Stripe was unreachable, overloaded or failed on its side: retry with backoff."""


class StripeRateLimited(StripeTransient):
    """Stripe answered 429: over the account's per-second request budget (or an object
    lock held too long). ``retry_after`` is Stripe's ``Retry-After`` in seconds when it
    sent one; otherwise the budget refills within a second."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class StripeInvalid(StripeGatewayError):
    """Stripe refused the request itself; retrying the same request will not help."""


def _options(idempotency_key: str | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {
        "api_key": djstripe_settings.STRIPE_SECRET_KEY,
        "stripe_version": settings.STRIPE_API_VERSION,
    }
    if idempotency_key:
        options["idempotency_key"] = idempotency_key
    return options


@contextmanager
def mapped_errors(operation: str):
    try:
        yield
    except stripe.CardError as exc:
        logger.info("Stripe declined %s: %s", operation, exc.code)
        raise PaymentDeclined(
            exc.user_message or "Your card was declined.", code=exc.code or "", status=402
        ) from exc
    except stripe.StripeError as exc:
        status = exc.http_status or 0
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        # Stripe-Should-Retry: false leaves a 429 to the slow backoff of other errors.
        throttled = isinstance(exc, stripe.RateLimitError) or status == 429
        if throttled and headers.get("stripe-should-retry") != "false":
            raise StripeRateLimited(
                "Stripe is not answering right now. Please try again in a moment.",
                code=exc.code or "",
                status=status,
                retry_after=_seconds(headers.get("retry-after")),
            ) from exc
        transient = isinstance(exc, stripe.APIConnectionError) or status >= 500 or status == 409
        if throttled or transient:
            raise StripeTransient(
                "Stripe is not answering right now. Please try again in a moment.",
                code=exc.code or "",
                status=status or None,
            ) from exc
        raise StripeInvalid(
            exc.user_message or str(exc), code=exc.code or "", status=status
        ) from exc


def _seconds(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds (Stripe sends no HTTP dates); None when absent or odd."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < 3600 else None


def _plain(obj) -> dict:
    # for_json: stripe-python turns decimal strings into Decimal; keep them as Stripe sent them.
    return obj.to_dict(for_json=True) if hasattr(obj, "to_dict") else dict(obj)


def api_base() -> str:
    return stripe.api_base


# --- Catalog -------------------------------------------------------------------------


def price_id_for_lookup_key(lookup_key: str) -> str | None:
    with mapped_errors("price lookup"):
        prices = stripe.Price.list(lookup_keys=[lookup_key], active=True, **_options())
    data = prices.get("data") or []
    return data[0]["id"] if data else None


def product_create(*, name: str, idempotency_key: str) -> dict:
    with mapped_errors("product create"):
        return _plain(stripe.Product.create(name=name, **_options(idempotency_key)))


def price_create(
    *, product_id: str, unit_amount: int, interval: str, lookup_key: str, idempotency_key: str
) -> dict:
    with mapped_errors("price create"):
        price = stripe.Price.create(
            product=product_id,
            unit_amount=unit_amount,
            currency=settings.SEATWISE_CURRENCY,
            recurring={"interval": interval},
            lookup_key=lookup_key,
            **_options(idempotency_key),
        )
    return _plain(price)


def price_retrieve(price_id: str) -> dict:
    with mapped_errors("price retrieve"):
        return _plain(stripe.Price.retrieve(price_id, **_options()))


# --- Customers and clocks ------------------------------------------------------------


def test_clock_create(*, frozen_time: int, name: str, idempotency_key: str) -> dict:
    with mapped_errors("test clock create"):
        clock = stripe.test_helpers.TestClock.create(
            frozen_time=frozen_time, name=name, **_options(idempotency_key)
        )
    return _plain(clock)


def test_clock_retrieve(clock_id: str) -> dict:
    with mapped_errors("test clock retrieve"):
        return _plain(stripe.test_helpers.TestClock.retrieve(clock_id, **_options()))


def test_clock_advance(*, clock_id: str, frozen_time: int) -> dict:
    with mapped_errors("test clock advance"):
        clock = stripe.test_helpers.TestClock.advance(
            clock_id, frozen_time=frozen_time, **_options()
        )
    return _plain(clock)


def customer_create(
    *, email: str, name: str, metadata: dict, test_clock: str | None, idempotency_key: str
) -> dict:
    params: dict[str, Any] = {"email": email, "name": name, "metadata": metadata}
    if test_clock:
        params["test_clock"] = test_clock
    with mapped_errors("customer create"):
        return _plain(stripe.Customer.create(**params, **_options(idempotency_key)))


def customer_retrieve(customer_id: str) -> dict:
    with mapped_errors("customer retrieve"):
        return _plain(stripe.Customer.retrieve(customer_id, **_options()))


# --- Checkout ------------------------------------------------------------------------


def checkout_session_create(
    *,
    customer_id: str,
    price_id: str,
    quantity: int,
    success_url: str,
    cancel_url: str,
    client_reference_id: str,
    metadata: dict,
    idempotency_key: str,
) -> dict:
    with mapped_errors("checkout session create"):
        session = stripe.checkout.Session.create(
            mode="subscription",
            customer=customer_id,
            line_items=[{"price": price_id, "quantity": quantity}],
            success_url=success_url,
            cancel_url=cancel_url,
            client_reference_id=client_reference_id,
            metadata=metadata,
            subscription_data={"metadata": metadata},
            **_options(idempotency_key),
        )
    logger.debug("checkout session %s created for %s", session["id"], customer_id)
    return _plain(session)


def checkout_session_retrieve(session_id: str) -> dict:
    with mapped_errors("checkout session retrieve"):
        return _plain(stripe.checkout.Session.retrieve(session_id, **_options()))


# --- Subscriptions -------------------------------------------------------------------


def subscription_retrieve(subscription_id: str) -> dict:
    with mapped_errors("subscription retrieve"):
        return _plain(stripe.Subscription.retrieve(subscription_id, **_options()))


def subscriptions_for_customer(customer_id: str) -> list[dict]:
    with mapped_errors("subscription list"):
        result = stripe.Subscription.list(customer=customer_id, status="all", **_options())
    return [_plain(sub) for sub in result.auto_paging_iter()]


def subscription_item_set(
    *,
    subscription_id: str,
    item_id: str,
    price_id: str,
    quantity: int,
    idempotency_key: str,
) -> dict:
    """Set the seat item to an absolute price and quantity, prorated and invoiced now.

    ``error_if_incomplete`` makes Stripe refuse the whole update when the proration
    invoice cannot be paid, so a declined card never leaves more seats than were paid.
    """
    with mapped_errors("subscription update"):
        sub = stripe.Subscription.modify(
            subscription_id,
            items=[{"id": item_id, "price": price_id, "quantity": quantity}],
            proration_behavior="always_invoice",
            payment_behavior="error_if_incomplete",
            **_options(idempotency_key),
        )
    logger.debug("subscription %s item %s set to %s", subscription_id, item_id, quantity)
    return _plain(sub)


def subscription_cancel_at_period_end(
    *, subscription_id: str, cancel: bool, idempotency_key: str
) -> dict:
    with mapped_errors("subscription cancel_at_period_end"):
        sub = stripe.Subscription.modify(
            subscription_id, cancel_at_period_end=cancel, **_options(idempotency_key)
        )
    return _plain(sub)


def invoice_preview(
    *,
    customer_id: str,
    subscription_id: str,
    item_id: str,
    price_id: str,
    quantity: int,
    proration_date: int,
) -> dict:
    with mapped_errors("invoice preview"):
        invoice = stripe.Invoice.create_preview(
            customer=customer_id,
            subscription=subscription_id,
            subscription_details={
                "items": [{"id": item_id, "price": price_id, "quantity": quantity}],
                "proration_behavior": "always_invoice",
                "proration_date": proration_date,
            },
            **_options(),
        )
    return _plain(invoice)


def invoices_for_customer(customer_id: str, *, limit: int = 24) -> list[dict]:
    with mapped_errors("invoice list"):
        result = stripe.Invoice.list(customer=customer_id, limit=limit, **_options())
    return [_plain(inv) for inv in result.get("data", [])]


# --- Subscription schedules ----------------------------------------------------------


def schedule_create_from_subscription(*, subscription_id: str, idempotency_key: str) -> dict:
    with mapped_errors("schedule create"):
        schedule = stripe.SubscriptionSchedule.create(
            from_subscription=subscription_id, **_options(idempotency_key)
        )
    return _plain(schedule)


def schedule_retrieve(schedule_id: str) -> dict:
    with mapped_errors("schedule retrieve"):
        return _plain(stripe.SubscriptionSchedule.retrieve(schedule_id, **_options()))


def schedule_set_phases(*, schedule_id: str, phases: list[dict], idempotency_key: str) -> dict:
    """Replace the schedule's phases. Nothing is prorated: the switch is at a boundary."""
    with mapped_errors("schedule update"):
        schedule = stripe.SubscriptionSchedule.modify(
            schedule_id,
            phases=phases,
            end_behavior="release",
            proration_behavior="none",
            **_options(idempotency_key),
        )
    logger.debug("schedule %s phases written", schedule_id)
    return _plain(schedule)


def schedule_release(*, schedule_id: str, idempotency_key: str) -> dict:
    with mapped_errors("schedule release"):
        return _plain(stripe.SubscriptionSchedule.release(schedule_id, **_options(idempotency_key)))


# --- Webhook endpoints ----------------------------------------------------------------


def webhook_endpoint_create(*, url: str, events: list[str], metadata: dict) -> dict:
    """Stripe returns the signing secret only here, at creation."""
    with mapped_errors("webhook endpoint create"):
        endpoint = stripe.WebhookEndpoint.create(
            url=url,
            enabled_events=events,
            metadata=metadata,
            api_version=settings.STRIPE_API_VERSION,
            **_options(),
        )
    return _plain(endpoint)


def djstripe_sync(model, data: dict):
    """Store a Stripe object (as a plain dict) through dj-stripe, which wants stripe-python
    objects (it pages through nested lists with ``auto_paging_iter``)."""
    from stripe._util import convert_to_stripe_object

    obj = convert_to_stripe_object(
        data,
        api_key=djstripe_settings.STRIPE_SECRET_KEY,
        stripe_version=settings.STRIPE_API_VERSION,
    )
    return model.sync_from_stripe_data(obj, api_key=djstripe_settings.STRIPE_SECRET_KEY)


# --- Demo and test-mode helpers ---------------------------------------------------------


def customer_attach_test_card(*, customer_id: str, idempotency_key: str) -> dict:
    """Give a test-mode customer Stripe's always-succeeding Visa as default (the demo)."""
    with mapped_errors("attach test card"):
        method = stripe.PaymentMethod.attach(
            "pm_card_visa", customer=customer_id, **_options(idempotency_key + "-attach")
        )
        stripe.Customer.modify(
            customer_id,
            invoice_settings={"default_payment_method": method["id"]},
            **_options(idempotency_key + "-default"),
        )
    return _plain(method)


def subscription_create(
    *, customer_id: str, price_id: str, quantity: int, metadata: dict, idempotency_key: str
) -> dict:
    """Subscribe directly, without Checkout (the demo seed only; customers use Checkout)."""
    with mapped_errors("subscription create"):
        sub = stripe.Subscription.create(
            customer=customer_id,
            items=[{"price": price_id, "quantity": quantity}],
            metadata=metadata,
            **_options(idempotency_key),
        )
    return _plain(sub)
