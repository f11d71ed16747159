"""A real Celery worker on Redis runs the webhook-triggered tasks and the renewal job.

The test process plays the web app: it receives the emulator's signed webhooks through
Django's test client, and our receivers enqueue tasks on commit. A separate worker
process (the same command production runs) consumes them from Redis, talks to the
emulator over HTTP and writes to the same PostgreSQL test database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from billing import services, tasks
from billing.models import PendingChange
from config.celery import app as celery_app
from organizations.models import Organization

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def wait_until(predicate, *, timeout: float = 60.0, what: str = "condition"):
    """Wait for another process's effect; fails the test with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        pause.wait(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def worker(stripe_emulator, tmp_path):
    queue = f"seatwise-test-{uuid.uuid4().hex[:8]}"
    nodename = f"{queue}@localhost"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TEST_DATABASE_NAME": db["NAME"],
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "STRIPE_API_HOST": stripe_emulator.url,
        "REDIS_URL": settings.REDIS_URL,
    }
    saved = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    with open(tmp_path / "worker.log", "w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue,
             "-n", nodename, "--pool=threads", "--concurrency=2", "--without-heartbeat",
             "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        celery_app.conf.task_always_eager = False
        celery_app.conf.task_default_queue = queue
        try:
            # Ping this worker by name: other runs may have workers on the same Redis.
            wait_until(
                lambda: (
                    process.poll() is not None
                    or celery_app.control.ping(destination=[nodename], timeout=0.5)
                ),
                timeout=90,
                what="the worker to start",
            )
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"the worker exited:\n{log.read()}")
            yield process
        finally:
            celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = saved
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


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
