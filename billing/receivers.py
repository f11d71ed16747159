"""dj-stripe webhook receivers. They only enqueue Celery tasks, after the webhook's
transaction commits; the tasks call billing services, which re-read Stripe.

dj-stripe has already checked the signature, dropped duplicate event ids and synced the
object into its tables by the time these run.
"""

from __future__ import annotations

import logging

from django.db import transaction
from djstripe.signals import WEBHOOK_SIGNALS

logger = logging.getLogger(__name__)

SYNC_EVENTS = [
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.pending_update_applied",
    "customer.subscription.pending_update_expired",
    "customer.subscription.trial_will_end",
    "subscription_schedule.updated",
    "subscription_schedule.released",
    "subscription_schedule.completed",
    "subscription_schedule.canceled",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.finalized",
]
RENEWAL_EVENTS = ["invoice.upcoming"]
CHECKOUT_EVENTS = ["checkout.session.completed"]


def _organization_id(event) -> int | None:
    customer_id = (event.data.get("object") or {}).get("customer")
    if isinstance(customer_id, dict):
        customer_id = customer_id.get("id")
    from djstripe.models import Customer

    customer = Customer.objects.filter(id=customer_id).only("subscriber_id").first()
    if customer is None or customer.subscriber_id is None:
        # Ids go to debug logs only (tests/reliability/test_security_hygiene.py).
        logger.warning("A Stripe %s event is for no known organization", event.type)
        logger.debug("Stripe event %s is for no known organization", event.id)
        return None
    return customer.subscriber_id


def on_sync_event(sender, event, **kwargs):
    from billing import tasks

    organization_id = _organization_id(event)
    if organization_id is not None:
        transaction.on_commit(lambda: tasks.subscription_sync.delay(organization_id))


def on_renewal_event(sender, event, **kwargs):
    from billing import tasks

    organization_id = _organization_id(event)
    if organization_id is not None:
        transaction.on_commit(lambda: tasks.renewal_prepare.delay(organization_id))


def on_checkout_completed(sender, event, **kwargs):
    from billing import tasks

    session_id = (event.data.get("object") or {}).get("id")
    if session_id:
        transaction.on_commit(lambda: tasks.checkout_session_complete.delay(session_id))


def connect() -> None:
    for name in SYNC_EVENTS:
        WEBHOOK_SIGNALS[name].connect(on_sync_event, dispatch_uid=f"seatwise-sync-{name}")
    for name in RENEWAL_EVENTS:
        WEBHOOK_SIGNALS[name].connect(on_renewal_event, dispatch_uid=f"seatwise-renew-{name}")
    for name in CHECKOUT_EVENTS:
        WEBHOOK_SIGNALS[name].connect(on_checkout_completed, dispatch_uid=f"seatwise-co-{name}")
