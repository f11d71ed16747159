"""The webhook inbox: the endpoint records each verified event once and answers at
once; a task runs dj-stripe's processing, exactly once per event, whether the event
arrives twice in a row, from concurrent requests, or its task runs twice. Failures stay
visible and retryable; refused requests store nothing.

"Processed" is counted by dj-stripe's own webhook signal for the event type (what our
receivers listen to), so a second processing would show up however it happened.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import stripe
from celery.exceptions import Retry
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from djstripe.models import Event, WebhookEndpoint
from djstripe.signals import WEBHOOK_SIGNALS

from billing import services, tasks
from billing.gateway import StripeTransient
from billing.models import WebhookDelivery
from billing.services.webhooks import REQUEUE_AFTER
from tests.worker import celery_worker, wait_until

UPDATED = "customer.subscription.updated"
# What an inline task's transient failure raises: Celery's Retry, or the error itself.
TRANSIENT = (Retry, StripeTransient)


@pytest.fixture
def processed():
    """How many times dj-stripe processed each event id (its webhook signal fired)."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def count(sender, event, **kwargs):
        with lock:
            counts[event.id] += 1

    WEBHOOK_SIGNALS[UPDATED].connect(count, dispatch_uid="test-inbox-processed")
    yield counts
    WEBHOOK_SIGNALS[UPDATED].disconnect(dispatch_uid="test-inbox-processed")


@pytest.fixture
def subscribed(stripe_world, org, owner):
    return stripe_world.subscribe(org, owner, seats=3)


def updated_delivery(stripe_world, org, *, note: str = "inbox") -> dict:
    """A genuine, signed ``customer.subscription.updated`` delivery, not yet posted."""
    stripe.Subscription.modify(org.stripe_subscription_id, metadata={"note": note})
    deliveries = stripe_world.control.webhook_outbox(drain=True)
    return next(d for d in deliveries if d["event_type"] == UPDATED)


def delivery_row(delivery: dict) -> WebhookDelivery:
    return WebhookDelivery.objects.get(event_id=delivery["event_id"])


def test_a_first_delivery_is_recorded_and_processed_once_and_duplicates_only_answer(
    stripe_world, subscribed, processed
):
    delivery = updated_delivery(stripe_world, subscribed)

    answers = [stripe_world.post_webhook(delivery) for _ in range(3)]

    assert [(a.status_code, a.content) for a in answers] == [
        (200, b"received"),
        (200, b"duplicate"),
        (200, b"duplicate"),
    ]
    row = delivery_row(delivery)
    assert (row.status, row.attempts, row.last_error) == ("processed", 1, "")
    assert row.event_type == UPDATED and json.loads(row.body)["id"] == delivery["event_id"]
    assert processed[delivery["event_id"]] == 1
    assert Event.objects.filter(id=delivery["event_id"]).count() == 1


def test_a_task_run_again_after_processing_does_nothing(stripe_world, subscribed, processed):
    """A redelivered task (acks_late after a crash past the commit) finds the row done."""
    delivery = updated_delivery(stripe_world, subscribed)
    stripe_world.post_webhook(delivery)

    with stripe_world.capture(execute=True):
        again = tasks.webhook_delivery_process.apply(args=[delivery["event_id"]]).get()

    assert again == "processed"
    assert processed[delivery["event_id"]] == 1
    assert delivery_row(delivery).attempts == 1


def test_a_delivery_whose_task_was_lost_is_queued_again_by_a_later_delivery(
    stripe_world, subscribed, processed, django_capture_on_commit_callbacks
):
    """The process died between the commit and the enqueue: Stripe's next delivery of
    the event, once the row has waited long enough, enqueues it again."""
    delivery = updated_delivery(stripe_world, subscribed)
    event = json.loads(delivery["body"])
    endpoint = WebhookEndpoint.objects.get()
    with django_capture_on_commit_callbacks(execute=False):  # the enqueue never happens
        services.webhook_delivery_receive(endpoint=endpoint, event=event, body=delivery["body"])
    assert delivery_row(delivery).status == "received"

    assert stripe_world.post_webhook(delivery).content == b"duplicate"  # still in hand
    later = timezone.now() + REQUEUE_AFTER + timedelta(seconds=1)
    with stripe_world.capture(execute=True):
        outcome = services.webhook_delivery_receive(
            endpoint=endpoint, event=event, body=delivery["body"], now=later
        )

    assert outcome == "requeued"
    assert delivery_row(delivery).status == "processed"
    assert processed[delivery["event_id"]] == 1


def test_the_periodic_sweep_queues_a_lost_task_again_once_it_has_waited_long_enough(
    stripe_world, subscribed, processed, django_capture_on_commit_callbacks
):
    """We answered 200, so Stripe will not resend: the beat job finds the row."""
    delivery = updated_delivery(stripe_world, subscribed)
    event = json.loads(delivery["body"])
    endpoint = WebhookEndpoint.objects.get()
    with django_capture_on_commit_callbacks(execute=False):  # the enqueue never happens
        services.webhook_delivery_receive(endpoint=endpoint, event=event, body=delivery["body"])

    assert services.webhook_deliveries_requeue_stuck() == 0  # too early: it may be queued
    later = timezone.now() + REQUEUE_AFTER + timedelta(seconds=1)
    with stripe_world.capture(execute=True):
        swept = services.webhook_deliveries_requeue_stuck(now=later)

    assert swept == 1
    assert delivery_row(delivery).status == "processed"
    assert processed[delivery["event_id"]] == 1
    assert services.webhook_deliveries_requeue_stuck(now=later) == 0


def test_beat_runs_the_sweep(settings, stripe_world, subscribed, processed):
    entry = settings.CELERY_BEAT_SCHEDULE["webhook-deliveries-requeue"]
    assert entry["task"] == tasks.webhook_deliveries_requeue.name
    delivery = updated_delivery(stripe_world, subscribed)
    stripe_world.post_webhook(delivery)  # processed at once: nothing left to sweep
    assert tasks.webhook_deliveries_requeue.apply().get() == 0
    assert processed[delivery["event_id"]] == 1


def test_old_processed_deliveries_are_pruned_and_the_rest_kept(db, settings):
    now = timezone.now()
    old = now - settings.SEATWISE_WEBHOOK_RETENTION - timedelta(minutes=1)
    recent = now - settings.SEATWISE_WEBHOOK_RETENTION + timedelta(minutes=1)
    rows = {
        "evt_old_processed_1": ("processed", old),
        "evt_old_processed_2": ("processed", old),
        "evt_old_ignored": ("ignored", old),
        "evt_old_failed": ("failed", old),
        "evt_old_waiting": ("received", old),
        "evt_recent_processed": ("processed", recent),
    }
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(event_id=e, event_type="invoice.paid", body="{}", status=s, received_at=t)
        for e, (s, t) in rows.items()
    )

    assert services.webhook_deliveries_prune(now=now, batch=2) == 3  # in two batches
    assert services.webhook_deliveries_prune(now=now) == 0
    kept = set(WebhookDelivery.objects.values_list("event_id", flat=True))
    assert kept == {"evt_old_failed", "evt_old_waiting", "evt_recent_processed"}
    entry = settings.CELERY_BEAT_SCHEDULE["webhook-deliveries-prune"]
    assert entry["task"] == tasks.webhook_deliveries_prune.name


def test_a_processing_failure_is_kept_with_its_error_and_the_next_delivery_retries_it(
    stripe_world, subscribed, processed
):
    delivery = updated_delivery(stripe_world, subscribed)
    # Every Stripe call dj-stripe makes while processing fails. Tasks run inline in the
    # tests, so the task's retry (a worker would wait and run it again) reaches the
    # request, which answers 500.
    stripe_world.control.set_faults(fail_next=100, status=500)
    with pytest.raises(TRANSIENT):
        stripe_world.post_webhook(delivery)
    stripe_world.control.clear_faults()

    row = delivery_row(delivery)
    assert row.status == "failed" and row.attempts >= 1
    assert row.last_error.startswith("StripeTransient")
    assert not Event.objects.filter(id=delivery["event_id"]).exists()
    assert processed[delivery["event_id"]] == 0

    # Stripe delivers it again (it was answered 500): processed, once.
    assert stripe_world.post_webhook(delivery).content == b"requeued"
    row.refresh_from_db()
    assert (row.status, row.last_error) == ("processed", "")
    assert processed[delivery["event_id"]] == 1
    assert Event.objects.filter(id=delivery["event_id"]).count() == 1


def test_staff_see_failed_deliveries_and_process_them_again(
    stripe_world, subscribed, processed, client, staff
):
    delivery = updated_delivery(stripe_world, subscribed)
    stripe_world.control.set_faults(fail_next=100, status=500)
    with pytest.raises(TRANSIENT):
        stripe_world.post_webhook(delivery)
    stripe_world.control.clear_faults()
    client.force_login(staff)
    changelist = reverse("admin:billing_webhookdelivery_changelist")

    page = client.get(changelist, {"status__exact": "failed"})
    assert page.status_code == 200
    assert delivery["event_id"] in page.content.decode()
    assert "StripeTransient" in page.content.decode()

    row = delivery_row(delivery)
    with stripe_world.capture(execute=True):
        response = client.post(
            changelist,
            {"action": "process_again", "_selected_action": [row.pk]},
            follow=True,
        )
    assert [m.message for m in response.context["messages"]] == ["1 queued for processing."]
    row.refresh_from_db()
    assert row.status == "processed"
    assert processed[delivery["event_id"]] == 1
    change = client.get(reverse("admin:billing_webhookdelivery_change", args=[row.pk]))
    assert change.status_code == 200


def test_an_event_naming_an_object_stripe_does_not_have_is_kept_as_ignored(
    stripe_world, subscribed
):
    endpoint = WebhookEndpoint.objects.get()
    body = json.dumps(
        {
            "id": "evt_ghost_inbox",
            "object": "event",
            "api_version": "2026-08-26.dahlia",
            "created": int(time.time()),
            "data": {"object": {"id": "sub_gone", "object": "subscription", "customer": "cus_x"}},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": UPDATED,
        }
    )
    signature = stripe.WebhookSignature.generate_signature_header(body, endpoint.secret)

    with stripe_world.capture(execute=True):
        response = stripe_world.client.post(
            f"/stripe/webhook/{endpoint.djstripe_uuid}/",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
        )

    assert response.status_code == 200
    row = WebhookDelivery.objects.get(event_id="evt_ghost_inbox")
    assert row.status == "ignored" and "No such" in row.last_error
    assert not Event.objects.filter(id="evt_ghost_inbox").exists()


def _signed(body: str, secret: str, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    return f"t={at},v1={stripe.WebhookSignature._compute_signature(f'{at}.{body}', secret)}"


REFUSED = {
    # name: (body, how it is signed, expected status)
    "unsigned": ('{"id": "evt_r1", "type": "x.y", "livemode": false}', None, 400),
    "other-secret": ('{"id": "evt_r2", "type": "x.y", "livemode": false}', "other", 400),
    "stale": ('{"id": "evt_r3", "type": "x.y", "livemode": false}', "stale", 400),
    "future": ('{"id": "evt_r8", "type": "x.y", "livemode": false}', "future", 400),
    "not-json": ('{"id": "evt_r4", "type": ', "ok", 400),
    "a-list": ("[1, 2]", "ok", 400),
    "no-type": ('{"id": "evt_r5", "livemode": false}', "ok", 400),
    "no-livemode": ('{"id": "evt_r6", "type": "x.y"}', "ok", 400),
    "id-not-a-string": ('{"id": 6, "type": "x.y", "livemode": false}', "ok", 400),
    "id-too-long": ('{"id": "evt_' + "x" * 300 + '", "type": "x.y", "livemode": false}', "ok", 400),
    "nul": ('{"id": "evt_r7", "type": "x.y", "livemode": false, "a": "\\u0000"}', "ok", 400),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_refused_requests_store_nothing(stripe_world, subscribed, case):
    endpoint = WebhookEndpoint.objects.get()
    body, how, expected = REFUSED[case]
    signature = {
        None: None,
        "ok": _signed(body, endpoint.secret),
        "other": _signed(body, "whsec_someone_else"),
        "stale": _signed(body, endpoint.secret, at=int(time.time()) - 3600),
        "future": _signed(body, endpoint.secret, at=int(time.time()) + 3600),
    }[how]
    before = (WebhookDelivery.objects.count(), Event.objects.count())
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature else {}

    with stripe_world.capture(execute=True):
        response = stripe_world.client.post(
            f"/stripe/webhook/{endpoint.djstripe_uuid}/",
            data=body,
            content_type="application/json",
            **headers,
        )

    assert response.status_code == expected, response.content
    assert (WebhookDelivery.objects.count(), Event.objects.count()) == before


def test_an_unknown_endpoint_is_404_and_a_get_is_405(stripe_world, subscribed):
    delivery = updated_delivery(stripe_world, subscribed)
    headers = {k.lower(): v for k, v in delivery["headers"].items()}

    unknown = stripe_world.client.post(
        "/stripe/webhook/00000000-0000-4000-8000-000000000000/",
        data=delivery["body"],
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=headers["stripe-signature"],
    )
    endpoint = WebhookEndpoint.objects.get()
    get = stripe_world.client.get(f"/stripe/webhook/{endpoint.djstripe_uuid}/")

    assert (unknown.status_code, get.status_code) == (404, 405)
    assert not WebhookDelivery.objects.filter(event_id=delivery["event_id"]).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_deliveries_are_recorded_and_processed_once(
    stripe_world, subscribed, processed
):
    """Eight requests carrying the same event at the same moment, each on its own
    connection: the unique key lets one in; it alone processes (inline here)."""
    delivery = updated_delivery(stripe_world, subscribed)
    headers = {k.lower(): v for k, v in delivery["headers"].items()}
    path = f"/stripe/webhook/{WebhookEndpoint.objects.get().djstripe_uuid}/"
    threads = 8
    start = threading.Barrier(threads)
    answers: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def post():
        try:
            client = Client()
            start.wait()
            response = client.post(
                path,
                data=delivery["body"],
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=headers["stripe-signature"],
            )
            with lock:
                answers.append((response.status_code, response.content))
        finally:
            connection.close()

    workers = [threading.Thread(target=post) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    assert sorted(answers) == [(200, b"duplicate")] * (threads - 1) + [(200, b"received")]
    assert WebhookDelivery.objects.filter(event_id=delivery["event_id"]).count() == 1
    assert delivery_row(delivery).attempts == 1
    assert processed[delivery["event_id"]] == 1
    assert Event.objects.filter(id=delivery["event_id"]).count() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_processes_a_delivered_event_once(
    stripe_emulator, stripe_world, subscribed, tmp_path
):
    delivery = updated_delivery(stripe_world, subscribed)
    with celery_worker(emulator_url=stripe_emulator.url, log_path=tmp_path / "worker.log"):
        first = stripe_world.post_webhook(delivery)
        # Answered before any processing: the row waits for the worker.
        assert first.content == b"received"
        wait_until(
            lambda: WebhookDelivery.objects.filter(
                event_id=delivery["event_id"], status="processed"
            ).exists(),
            what="the worker to process the delivery",
        )
        assert stripe_world.post_webhook(delivery).content == b"duplicate"

    row = delivery_row(delivery)
    assert (row.status, row.attempts) == ("processed", 1)
    assert Event.objects.filter(id=delivery["event_id"]).count() == 1
