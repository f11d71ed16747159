"""Billing test driver: the real services against the Stripe emulator over HTTP.

Webhooks go the real way: the emulator signs each event with the endpoint's secret and
queues it (outbox mode); ``StripeWorld.deliver`` posts them to our webhook URL through
Django's test client, where dj-stripe checks the signature; our receivers' on-commit
tasks then run (eagerly, or on a real worker in the worker tests).

Time is the Stripe test clock's: each organization's customer lives on its own clock,
created at the ``start`` the test chooses, and ``advance`` moves it through renewals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import pytest
import stripe
from djstripe.models import Customer as StripeCustomer

from billing import services
from billing.stripe_data import to_datetime, to_timestamp
from organizations.models import Organization
from organizations.services import membership_add_direct
from tests.factories import UserFactory

JAN_15 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@dataclass
class StripeWorld:
    emulator: object
    client: object
    capture: object

    @property
    def control(self):
        return self.emulator.control

    def deliver(self) -> list[str]:
        """Post every queued webhook to the app; returns the event types delivered."""
        delivered = []
        while True:
            deliveries = self.control.webhook_outbox(drain=True)
            if not deliveries:
                return delivered
            for delivery in deliveries:
                response = self.post_webhook(delivery)
                assert response.status_code == 200, (delivery["event_type"], response.content)
                delivered.append(delivery["event_type"])

    def post_webhook(self, delivery: dict, **extra_headers):
        headers = {k.lower(): v for k, v in delivery["headers"].items()}
        with self.capture(execute=True):
            return self.client.post(
                urlparse(delivery["url"]).path,
                data=delivery["body"],
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=headers["stripe-signature"],
                **extra_headers,
            )

    def customer_id(self, organization: Organization) -> str:
        return StripeCustomer.objects.get(subscriber=organization).id

    def clock_id(self, organization: Organization) -> str:
        return stripe.Customer.retrieve(self.customer_id(organization))["test_clock"]

    def now(self, organization: Organization) -> datetime:
        clock = stripe.test_helpers.TestClock.retrieve(self.clock_id(organization))
        return to_datetime(clock["frozen_time"])

    def advance(self, organization: Organization, to: datetime) -> None:
        stripe.test_helpers.TestClock.advance(
            self.clock_id(organization), frozen_time=to_timestamp(to)
        )
        self.deliver()

    def subscribe(
        self,
        organization: Organization,
        actor,
        *,
        tier: str = "teams",
        cycle: str = "monthly",
        seats: int = 3,
        start: datetime = JAN_15,
        card: str = "4242424242424242",
    ) -> Organization:
        services.billing_customer_ensure(organization=organization, now=start)
        url = services.checkout_start(
            organization=organization,
            actor=actor,
            tier=tier,
            cycle=cycle,
            seats=seats,
            success_url="http://testserver/done?session_id={CHECKOUT_SESSION_ID}",
            cancel_url="http://testserver/cancel",
            now=start,
        )
        session_id = url.rstrip("/").rsplit("/", 1)[-1]
        self.control.complete_checkout(session_id, card=card)
        self.deliver()
        organization.refresh_from_db()
        return organization

    def renew(self, organization: Organization) -> Organization:
        """Run one renewal as production does: the beat job inside the lead time, Stripe
        crossing the period end, the webhooks, then the job again to confirm."""
        end = organization.current_period_end
        services.renewal_run(now=end - timedelta(hours=1))
        self.advance(organization, just_after(end))
        services.renewal_run(now=just_after(end))
        organization.refresh_from_db()
        return organization

    def add_members(self, organization: Organization, actor, count: int) -> list:
        users = [UserFactory() for _ in range(count)]
        for user in users:
            membership_add_direct(organization=organization, user=user, actor=actor)
        return users

    def invoices(self, organization: Organization) -> list[dict]:
        """Every invoice Stripe made for the organization, oldest first."""
        result = stripe.Invoice.list(customer=self.customer_id(organization), limit=100)
        return sorted(result["data"], key=lambda inv: (inv["created"], inv["id"]))

    def subscription(self, organization: Organization) -> dict:
        return stripe.Subscription.retrieve(organization.stripe_subscription_id)


@pytest.fixture
def stripe_world(db, stripe_emulator, client, django_capture_on_commit_callbacks, settings):
    settings.SEATWISE_STRIPE_TEST_CLOCKS = True
    services.billing_catalog_ensure()
    services.webhook_endpoint_ensure(base_url="http://testserver")
    stripe_emulator.control.set_webhook_mode("outbox")
    return StripeWorld(
        emulator=stripe_emulator, client=client, capture=django_capture_on_commit_callbacks
    )


def halfway(organization: Organization) -> datetime:
    start, end = organization.current_period_start, organization.current_period_end
    return start + (end - start) / 2


def just_after(moment: datetime) -> datetime:
    return moment + timedelta(minutes=5)
