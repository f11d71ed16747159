"""Starting states that involve Stripe, built through the emulator's API directly
(customer on its own test clock, test card, subscription) instead of Checkout, which
would cost a browser round and four webhooks per org."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from django.db import connections
from django.utils import timezone

from billing import catalog, gateway, services
from organizations.models import Organization


def subscribed_orgs(
    *,
    prefix: str,
    count: int,
    plans: list[tuple[str, str, int]],
    start: datetime,
    threads: int = 8,
) -> list[tuple[Organization, dict]]:
    """``count`` orgs, org i on ``plans[i % len(plans)]`` (tier, cycle, quantity), each
    subscribed at ``start`` on its own clock. Returns (org, Stripe subscription) pairs."""
    services.billing_catalog_ensure()  # products and prices, created once
    now = timezone.now()
    orgs = Organization.objects.bulk_create(
        Organization(
            name=f"{prefix} {i}",
            slug=f"{prefix}-{i}",
            email=f"{prefix}-{i}@bench.test",
            created_at=start,
            trial_ends_at=now,
        )
        for i in range(count)
    )

    def one(index: int) -> tuple[Organization, dict]:
        try:
            org = orgs[index]
            tier, cycle, quantity = plans[index % len(plans)]
            customer = services.billing_customer_ensure(organization=org, now=start)
            gateway.customer_attach_test_card(
                customer_id=customer.id, idempotency_key=f"bench-{org.pk}-card"
            )
            subscription = gateway.subscription_create(
                customer_id=customer.id,
                price_id=catalog.plan_get(tier=tier, cycle=cycle).price_id,
                quantity=quantity,
                metadata={"organization_id": str(org.pk)},
                idempotency_key=f"bench-{org.pk}-subscription",
            )
            return org, subscription
        finally:
            connections.close_all()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, range(count)))
