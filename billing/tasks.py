"""Celery tasks: thin wrappers that receive ids and call one billing service.

Transient Stripe failures (5xx, timeouts) retry with exponential backoff; a 429 retries
after about a second (see ``StripeTask``). The services are idempotent, so a retry or a
redelivery after a worker crash is safe, and a task that runs out of retries leaves its
pending change pending for the next run of the job.
"""

from __future__ import annotations

import random

from celery import Task, shared_task
from django.utils import timezone

from billing import services
from billing.gateway import StripeRateLimited, StripeTransient
from organizations.models import Organization

# A 429 only says the account's per-second budget is spent, so it gets about a second
# and many more tries (~5 minutes of steady throttling, the patience of the backoff);
# other transient errors get TRANSIENT_MAX_RETRIES, with the exponential backoff.
RATE_LIMITED_DELAY = 1.0
RATE_LIMITED_MAX_RETRIES = 200
TRANSIENT_MAX_RETRIES = 8


class StripeTask(Task):
    """Retries a 429 after ``Retry-After`` or about a second, with jitter so the workers'
    retries spread over the next second; other transient errors keep the exponential
    backoff. Stripe's budget refills every second: backing off 2, 4, 8 s left it idle.

    Celery counts both kinds in one ``request.retries``, so a 5xx after many 429s backs
    off longer and may give up sooner; its change then waits for the next run. The
    limits are checked here rather than passed to ``retry(max_retries=...)``, which
    Celery's autoretry would keep on the task object for its later calls."""

    max_retries = RATE_LIMITED_MAX_RETRIES

    def retry(self, *args, exc=None, countdown=None, **options):
        if isinstance(exc, StripeRateLimited):
            countdown = rate_limited_countdown(exc)
        elif exc is not None and self.request.retries >= TRANSIENT_MAX_RETRIES:
            raise exc  # out of retries: the task fails with Stripe's error, as Celery does
        return super().retry(*args, exc=exc, countdown=countdown, **options)


def rate_limited_countdown(exc: StripeRateLimited) -> float:
    wait = RATE_LIMITED_DELAY if exc.retry_after is None else min(exc.retry_after, 60.0)
    return wait + random.uniform(0, RATE_LIMITED_DELAY / 2)


RETRY = {
    "base": StripeTask,
    "autoretry_for": (StripeTransient,),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
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


@shared_task(acks_late=True)
def webhook_deliveries_requeue() -> int:
    """Beat: queue again the deliveries whose processing task was lost."""
    return services.webhook_deliveries_requeue_stuck()


@shared_task(acks_late=True)
def webhook_deliveries_prune() -> int:
    """Beat: delete the inbox's processed deliveries past their retention."""
    return services.webhook_deliveries_prune()
