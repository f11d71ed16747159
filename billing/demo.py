"""The demo's billing: the catalog and webhook endpoint in the emulator, and a Teams
subscription for Acme Analytics that started with its ledger, on its own test clock,
renewed up to today so the invoice list has history.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from billing import catalog, gateway, services
from billing.stripe_data import to_timestamp
from organizations.demo import DEMO_ORG_NAME, DEMO_SEATS_PURCHASED
from organizations.models import Organization


def demo_billing_setup(*, site_url: str, now: datetime | None = None) -> Organization | None:
    now = now or timezone.now()
    services.billing_catalog_ensure()
    services.webhook_endpoint_ensure(base_url=site_url)
    org = Organization.objects.active().filter(name=DEMO_ORG_NAME).first()
    if org is None or org.stripe_subscription_id:
        return org
    start = org.billing_anchor or org.created_at
    customer = services.billing_customer_ensure(organization=org, now=start)
    gateway.customer_attach_test_card(
        customer_id=customer.id, idempotency_key=f"demo-{org.pk}-card"
    )
    plan = catalog.plan_get(tier=catalog.Tier.TEAMS, cycle=catalog.Cycle.MONTHLY)
    subscription = gateway.subscription_create(
        customer_id=customer.id,
        price_id=plan.price_id,
        quantity=DEMO_SEATS_PURCHASED,
        metadata={"organization_id": str(org.pk)},
        idempotency_key=f"demo-{org.pk}-subscription",
    )
    org.stripe_subscription_id = subscription["id"]
    org.save(update_fields=["stripe_subscription_id"])
    clock_id = gateway.customer_retrieve(customer.id)["test_clock"]
    gateway.test_clock_advance(clock_id=clock_id, frozen_time=to_timestamp(now))
    org = services.subscription_sync(organization=org, now=now)
    services.invoices_sync(organization=org)
    return org
