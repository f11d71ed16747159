"""Setting Stripe up for this site (catalog prices, the webhook endpoint) and staff's
trial extension."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from billing import catalog, gateway
from billing.catalog import Plan
from billing.services.common import (
    ACTIVE_STATUSES,
    BillingRefused,
    _lock,
)
from organizations.exceptions import NotAllowed
from organizations.models import Organization

logger = logging.getLogger(__name__)

# --- Setup: catalog and webhook endpoint ------------------------------------------------


def billing_catalog_ensure() -> list[Plan]:
    """Make sure Stripe has every catalog price (by lookup_key) at the catalog's amount.

    Creates what is missing (test mode and the emulator); an existing price with another
    amount is a configuration error, because invoices would not match what pages show.
    """
    from django.core.exceptions import ImproperlyConfigured

    catalog.clear_price_cache()
    products: dict[str, str] = {}
    for plan in catalog.plans():
        price_id = plan.configured_price_id or gateway.price_id_for_lookup_key(plan.lookup_key)
        if price_id:
            price = gateway.price_retrieve(price_id)
            if int(price["unit_amount"]) != plan.unit_amount:
                raise ImproperlyConfigured(
                    f"Stripe price {price_id} ({plan.name}) is {price['unit_amount']} cents; "
                    f"the catalog says {plan.unit_amount}."
                )
            continue
        if plan.tier not in products:
            products[plan.tier] = gateway.product_create(
                name=f"Seatwise {plan.tier_name}", idempotency_key=f"catalog-product-{plan.tier}"
            )["id"]
        gateway.price_create(
            product_id=products[plan.tier],
            unit_amount=plan.unit_amount,
            interval=plan.interval,
            lookup_key=plan.lookup_key,
            idempotency_key=f"catalog-price-{plan.lookup_key}-{plan.unit_amount}",
        )
    catalog.clear_price_cache()
    return catalog.plans()


def webhook_endpoint_ensure(*, base_url: str):
    """The Stripe webhook endpoint for this site, created once; dj-stripe keeps its secret."""
    from uuid import uuid4

    from django.urls import reverse
    from djstripe.models import WebhookEndpoint

    from billing.receivers import CHECKOUT_EVENTS, RENEWAL_EVENTS, SYNC_EVENTS

    base_url = base_url.rstrip("/")
    existing = WebhookEndpoint.objects.filter(url__startswith=base_url + "/").first()
    if existing is not None:
        return existing
    uuid = uuid4()
    url = base_url + reverse("stripe-webhook", kwargs={"uuid": uuid})
    data = gateway.webhook_endpoint_create(
        url=url,
        events=sorted(set(SYNC_EVENTS + RENEWAL_EVENTS + CHECKOUT_EVENTS)),
        metadata={"djstripe_uuid": str(uuid)},
    )
    return gateway.djstripe_sync(WebhookEndpoint, data)


def trial_extend(
    *, organization: Organization, actor, days: int, now: datetime | None = None
) -> Organization:
    """Staff: give an organization on trial more days (from now if it already ended)."""
    now = now or timezone.now()
    if not getattr(actor, "is_staff", False):
        raise NotAllowed("Only staff can extend a trial.")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        raise BillingRefused("Extend a trial by 1 to 365 days.", code="trial_days_invalid")
    with transaction.atomic():
        org = _lock(organization)
        if org.subscription_status in ACTIVE_STATUSES:
            raise BillingRefused(
                "This organization has a subscription; there is no trial to extend.",
                code="not_on_trial",
            )
        start = max(org.trial_ends_at or now, now)
        org.trial_ends_at = start + timedelta(days=days)
        org.save(update_fields=["trial_ends_at"])
    return org
