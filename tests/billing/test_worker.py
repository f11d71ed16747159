"""A real Celery worker on Redis runs the webhook-triggered tasks and the renewal job.

The test process plays the web app: it receives the emulator's signed webhooks through
Django's test client, and our receivers enqueue tasks on commit. A separate worker
process (the same command production runs) consumes them from Redis, talks to the
emulator over HTTP and writes to the same PostgreSQL test database.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing import services, tasks
from billing.models import PendingChange
from organizations.models import Organization
from tests.worker import celery_worker, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(stripe_emulator, tmp_path):
    with celery_worker(emulator_url=stripe_emulator.url, log_path=tmp_path / "worker.log") as w:
        yield w


def test_worker_processes_webhooks_and_the_renewal_job(worker, stripe_world, org, owner, member):
    # Checkout: the webhook arrives, the worker syncs the subscription.
    services.billing_customer_ensure(organization=org, now=stripe_world_start())
    url = services.checkout_start(
        organization=org,
        actor=owner,
        tier="teams",
        cycle="monthly",
        seats=5,
        success_url="http://testserver/done",
        cancel_url="http://testserver/cancel",
        now=stripe_world_start(),
    )
    stripe_world.control.complete_checkout(url.rstrip("/").rsplit("/", 1)[-1])
    stripe_world.deliver()
    org = wait_until(
        lambda: Organization.objects.filter(pk=org.pk, subscription_status="active").first(),
        what="the worker to sync the new subscription",
    )
    assert org.seats_purchased == 5

    # A decrease, then the beat task: the worker writes the schedule.
    change = services.seats_change(organization=org, actor=owner, seats=3)
    tasks.renewal_run.delay()
    wait_until(
        lambda: PendingChange.objects.filter(pk=change.pk, scheduled_at__isnull=False).exists(),
        what="the worker to write the schedule",
    )

    # Stripe renews; its webhooks reach the app; the job confirms on the worker.
    stripe_world.advance(org, org.current_period_end + timedelta(minutes=5))
    tasks.renewal_run.delay()
    wait_until(
        lambda: PendingChange.objects.filter(pk=change.pk, status="applied").exists(),
        what="the worker to confirm the renewal",
    )
    org = wait_until(
        lambda: Organization.objects.filter(pk=org.pk, seats_purchased=3).first(),
        what="the mirror to show 3 seats",
    )
    assert [inv["amount_paid"] for inv in stripe_world.invoices(org)] == [9_000, 5_400]


def stripe_world_start():
    from tests.billing.conftest import JAN_15

    return JAN_15
