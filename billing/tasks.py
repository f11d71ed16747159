"""Celery tasks: thin wrappers that receive ids and call one billing service.

Transient Stripe failures (5xx, 429, timeouts) retry with exponential backoff; the
services are idempotent, so a retry or a redelivery after a worker crash is safe.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from billing import services
from billing.gateway import StripeTransient
from organizations.models import Organization

RETRY = {
    "autoretry_for": (StripeTransient,),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
    "acks_late": True,
}


@shared_task(**RETRY)
def subscription_sync(organization_id: int) -> None:
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is not None:
        services.subscription_sync(organization=organization)
        services.invoices_sync(organization=organization)


@shared_task(**RETRY)
def checkout_session_complete(session_id: str) -> None:
    organization = services.checkout_session_complete(session_id=session_id)
    if organization is not None:
        services.invoices_sync(organization=organization)


@shared_task(**RETRY)
def renewal_prepare(organization_id: int) -> None:
    """Stripe's ``invoice.upcoming``: write the org's due change now rather than wait."""
    from billing.selectors import pending_change_get

    organization = Organization.objects.filter(pk=organization_id).first()
    change = pending_change_get(organization=organization) if organization else None
    if change is not None:
        services.pending_change_schedule(change_id=change.pk)


@shared_task(bind=True, **RETRY)
def pending_change_apply(self, change_id: int, step: str) -> str:
    try:
        if step == "schedule":
            return services.pending_change_schedule(change_id=change_id)
        return services.pending_change_confirm(change_id=change_id)
    except StripeTransient as exc:
        services.pending_change_record_error(change_id=change_id, error=exc.message)
        raise


@shared_task(acks_late=True)
def renewal_run() -> int:
    """Beat: fan out one task per due change, so one slow org never holds up the rest."""
    from billing.selectors import pending_changes_due, pending_changes_to_confirm

    now = timezone.now()
    due = pending_changes_due(now=now)
    confirm = pending_changes_to_confirm(now=now)
    for change_id in due:
        pending_change_apply.delay(change_id, "schedule")
    for change_id in confirm:
        pending_change_apply.delay(change_id, "confirm")
    return len(due) + len(confirm)


@shared_task(**RETRY)
def reconcile_organization(organization_id: int) -> None:
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is not None:
        services.reconcile_organization(organization=organization)


@shared_task(acks_late=True)
def reconcile_all() -> int:
    ids = list(
        Organization.objects.active()
        .exclude(stripe_subscription_id="")
        .values_list("pk", flat=True)
    )
    for organization_id in ids:
        reconcile_organization.delay(organization_id)
    return len(ids)


@shared_task(**RETRY)
def webhook_delivery_process(event_id: str) -> str:
    """A Stripe event the webhook endpoint recorded: dj-stripe's processing, once."""
    return services.webhook_delivery_process(event_id=event_id)
