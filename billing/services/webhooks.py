"""The Stripe webhook inbox: record a verified delivery once, process it later.

Stripe asks endpoints to answer 2xx quickly and to expect duplicates. The endpoint
(``billing.webhooks``) checks the signature and calls ``webhook_delivery_receive``, one
``INSERT ... ON CONFLICT DO NOTHING`` keyed on the event id: the first delivery enqueues
``webhook_delivery_process`` after commit, a duplicate only reads the row. The task runs
dj-stripe's own processing (``Event.process``: the Event row, the sync of its object,
the webhook signals our receivers listen to) under a lock on the inbox row, and marks
the row processed in that same transaction: a redelivered task, a crash before the
commit or concurrent duplicates process each event exactly once.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from djstripe.models import Event, WebhookEndpoint
from djstripe.settings import djstripe_settings

from billing import gateway
from billing.gateway import StripeInvalid
from billing.models import WebhookDelivery

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status

# A delivery still waiting after this long probably lost its task (the broker was
# down, or the process died between the commit and the enqueue): Stripe's next
# delivery of it enqueues again. The task is idempotent, so a slow queue costs only
# a no-op task.
REQUEUE_AFTER = timedelta(minutes=10)


def webhook_delivery_receive(
    *, endpoint: WebhookEndpoint, event: dict, body: str, now: datetime | None = None
) -> str:
    """Record a verified event; enqueue its processing unless it is already in hand.

    Returns ``"received"`` for a first delivery, ``"requeued"`` for a duplicate of one
    that failed or lost its task, and ``"duplicate"`` otherwise.
    """
    now = now or timezone.now()
    table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    with connection.cursor() as cursor:
        # Safe under concurrent duplicates: the unique key decides, the loser waits for
        # the winner's commit and inserts nothing.
        cursor.execute(
            f"INSERT INTO {table} (event_id, event_type, webhook_endpoint_id, body, status,"
            " attempts, last_error, received_at) VALUES (%s, %s, %s, %s, %s, 0, '', %s)"
            " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            [
                event["id"],
                event["type"],
                endpoint.pk,
                body,
                Status.RECEIVED,
                connection.ops.adapt_datetimefield_value(now),
            ],
        )
        inserted = cursor.fetchone() is not None
    if inserted:
        outcome = "received"
    else:
        row = WebhookDelivery.objects.filter(event_id=event["id"]).values("status", "received_at")
        row = row.first()
        stuck = row is not None and (
            row["status"] == Status.FAILED
            or (row["status"] == Status.RECEIVED and row["received_at"] < now - REQUEUE_AFTER)
        )
        if not stuck:
            return "duplicate"
        outcome = "requeued"
    _enqueue_on_commit([event["id"]])
    return outcome


def _enqueue_on_commit(event_ids: list[str]) -> None:
    for event_id in event_ids:
        transaction.on_commit(lambda e=event_id: _enqueue(e))


def _enqueue(event_id: str) -> None:
    from billing import tasks

    try:
        tasks.webhook_delivery_process.delay(event_id)
    except Exception as exc:
        # The row is stored but has no task (the broker is down; or, where tasks run
        # inline as in the tests, processing failed and recorded its own error). The
        # request answers 500, and Stripe's next delivery finds the row failed and
        # enqueues it again.
        WebhookDelivery.objects.filter(event_id=event_id, status=Status.RECEIVED).update(
            status=Status.FAILED, last_error=f"not queued: {type(exc).__name__}: {exc}"[:2000]
        )
        raise


def webhook_delivery_process(*, event_id: str, now: datetime | None = None) -> str:
    """Process one recorded event through dj-stripe, once. Returns the row's status.

    Raises what processing raised (after recording it on the row), so the task retries
    ``StripeTransient`` and fails loudly on anything else.
    """
    now = now or timezone.now()
    failure: Exception | None = None
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(event_id=event_id).first()
        if delivery is None:
            # Ids go to debug logs only (tests/reliability/test_security_hygiene.py).
            logger.warning("A webhook delivery task found no delivery to process")
            logger.debug("No webhook delivery %s", event_id)
            return "missing"
        if delivery.status in (Status.PROCESSED, Status.IGNORED):
            return delivery.status
        delivery.attempts += 1
        try:
            data = json.loads(delivery.body)
            # A savepoint: a failure rolls back dj-stripe's partial writes and the
            # receivers' on-commit tasks, and keeps the row to record the error on.
            with transaction.atomic(), gateway.mapped_errors(f"event {event_id}"):
                Event.process(data, api_key=_api_key(delivery, data))
        except StripeInvalid as exc:
            if exc.code != "resource_missing":
                failure = exc
            else:
                # A genuine event naming an object Stripe no longer has (deleted since,
                # or a test object): retrying cannot help.
                logger.warning(
                    "A Stripe %s event names an object Stripe does not have; ignored",
                    delivery.event_type,
                )
                logger.debug("Ignored Stripe event %s", event_id)
                delivery.status = Status.IGNORED
                delivery.last_error = f"{type(exc).__name__}: {exc.message}"
                delivery.processed_at = now
        except Exception as exc:  # recorded for staff, then re-raised below
            failure = exc
        else:
            delivery.status = Status.PROCESSED
            delivery.last_error = ""
            delivery.processed_at = now
        if failure is not None:
            logger.warning(
                "Processing a Stripe %s event failed (%s); the delivery is kept to retry",
                delivery.event_type,
                type(failure).__name__,
            )
            logger.debug("Failed Stripe event %s", event_id)
            delivery.status = Status.FAILED
            delivery.last_error = f"{type(failure).__name__}: {failure}"[:2000]
        delivery.save(update_fields=["status", "attempts", "last_error", "processed_at"])
    if failure is not None:
        raise failure
    return delivery.status


def webhook_deliveries_requeue_stuck(*, now: datetime | None = None) -> int:
    """Enqueue again every delivery still waiting ``REQUEUE_AFTER`` after it arrived.

    Its task was lost (the broker was down, or the process died between the commit and
    the enqueue). Since we answered 200, Stripe will not send it again, so a periodic
    job (beat: ``webhook-deliveries-requeue``) is what finds it. Failed deliveries are
    not swept: Celery retried them already, and staff see them in the admin.
    """
    now = now or timezone.now()
    stuck = list(
        WebhookDelivery.objects.filter(
            status=Status.RECEIVED, received_at__lt=now - REQUEUE_AFTER
        ).values_list("event_id", flat=True)
    )
    _enqueue_on_commit(stuck)
    return len(stuck)


def webhook_deliveries_retry(*, event_ids: list[str]) -> int:
    """Staff's "process again": enqueue every given delivery not yet processed."""
    pending = list(
        WebhookDelivery.objects.filter(event_id__in=event_ids)
        .exclude(status__in=[Status.PROCESSED, Status.IGNORED])
        .values_list("event_id", flat=True)
    )
    _enqueue_on_commit(pending)
    return len(pending)


def webhook_deliveries_prune(*, now: datetime | None = None, batch: int = 5_000) -> int:
    """Delete processed and ignored deliveries older than ``SEATWISE_WEBHOOK_RETENTION``
    (beat: ``webhook-deliveries-prune``, daily), so the inbox does not grow for ever.

    Stripe retries a delivery for three days at most, and the retention is longer, so a
    pruned event is not redelivered; were one resent by hand, it would be processed
    again, which the sync tolerates (it re-reads Stripe). Failed and waiting rows stay
    for staff. Deleted in batches, so no transaction holds the table for long.
    """
    now = now or timezone.now()
    done = WebhookDelivery.objects.filter(
        status__in=[Status.PROCESSED, Status.IGNORED],
        received_at__lt=now - settings.SEATWISE_WEBHOOK_RETENTION,
    )
    deleted = 0
    while ids := list(done.values_list("pk", flat=True)[:batch]):
        deleted += WebhookDelivery.objects.filter(pk__in=ids).delete()[0]
    return deleted


def _api_key(delivery: WebhookDelivery, data: dict) -> str:
    # As dj-stripe's WebhookEventTrigger.from_request chooses it.
    endpoint = delivery.webhook_endpoint
    account = endpoint.djstripe_owner_account if endpoint else None
    livemode = endpoint.livemode if endpoint else bool(data.get("livemode"))
    return (account.default_api_key if account else None) or djstripe_settings.get_default_api_key(
        livemode
    )
