"""SIGKILL a real Celery worker at each step of the renewal job, then run it again.

The test stops the worker at an exact point without timing: another connection holds
a table lock on ``billing_pendingchange`` that the job's next statement must wait for
(EXCLUSIVE blocks the job's claim; SHARE lets the claim and the Stripe calls through
and blocks the write that records them). Once PostgreSQL shows the worker waiting, the
test kills it with SIGKILL, ends its database session (as PostgreSQL would notice the
dead client), releases the lock, and starts a new worker that runs the same step again.

Afterwards the emulator's request log proves each change reached Stripe exactly once
(repeats are idempotent replays), and the invoices and the app's mirror agree.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest
from django.db import connection

from billing import services, tasks
from billing.models import PendingChange
from organizations.models import Organization
from tests.worker import celery_worker, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TABLE = "billing_pendingchange"


@contextmanager
def table_lock(mode: str):
    """Hold ``LOCK TABLE billing_pendingchange IN <mode> MODE`` on a separate session."""
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]
    ) as holder:
        holder.execute(f"LOCK TABLE {TABLE} IN {mode} MODE")
        try:
            yield holder
        finally:
            holder.rollback()


def someone_waits_for_the_table(holder) -> bool:
    row = holder.execute(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = %s AND NOT l.granted",
        [TABLE],
    ).fetchone()
    return row[0] > 0


def end_dead_sessions(holder) -> None:
    """The killed worker's sessions: PostgreSQL rolls back their open transactions."""
    ours = [holder.info.backend_pid, connection.connection.info.backend_pid]
    holder.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> ALL(%s)",
        [ours],
    )


def crash_during(step: str, *, change_id: int, mode: str, emulator, tmp_path, tally) -> None:
    with table_lock(mode) as holder:
        log = tmp_path / f"worker-{step}-{mode.lower()}.log"
        with celery_worker(emulator_url=emulator.url, log_path=log) as process:
            tasks.pending_change_apply.delay(change_id, step)
            wait_until(
                lambda: someone_waits_for_the_table(holder),
                what=f"the worker to block in {step} ({mode})",
            )
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        end_dead_sessions(holder)
    tally.add("worker kills (SIGKILL)")


def run_step(step: str, *, change_id: int, emulator, tmp_path, done) -> None:
    with celery_worker(emulator_url=emulator.url, log_path=tmp_path / f"rerun-{step}.log"):
        tasks.pending_change_apply.delay(change_id, step)
        wait_until(done, what=f"the rerun of {step} to finish")


def schedule_writes(emulator) -> dict[str, int]:
    """Successful, non-replayed writes to subscription schedules, by kind."""
    counts = {"create": 0, "phases": 0, "release": 0}
    for entry in emulator.control.requests(method="POST", path="/v1/subscription_schedules"):
        if entry["status"] != 200 or entry["replayed"]:
            continue
        parts = entry["path"].strip("/").split("/")
        kind = "create" if len(parts) == 2 else ("release" if parts[-1] == "release" else "phases")
        counts[kind] += 1
    return counts


@pytest.fixture
def decrease(stripe_world, org, owner, member):
    """Acme on 5 monthly Teams seats from Jan 15, asking for 3 at the Feb 15 renewal."""
    org = stripe_world.subscribe(org, owner, seats=5)
    change = services.seats_change(organization=org, actor=owner, seats=3)
    return org, change


def scheduled(change_id: int) -> bool:
    return PendingChange.objects.filter(pk=change_id, scheduled_at__isnull=False).exists()


def applied(change_id: int) -> bool:
    return PendingChange.objects.filter(pk=change_id, status="applied").exists()


# (step, lock mode, what had reached Stripe when the worker died)
# The default run kills at the two dangerous points (Stripe changed, the database not
# yet); the kills before the claim are `slow` variants, as each worker start costs seconds.
KILL_POINTS = [
    pytest.param(
        "schedule", "EXCLUSIVE", {"create": 0, "phases": 0},
        id="schedule-before-claim", marks=pytest.mark.slow,
    ),
    pytest.param(
        "schedule", "SHARE", {"create": 1, "phases": 1}, id="schedule-after-stripe-before-commit"
    ),
    pytest.param(
        "confirm", "EXCLUSIVE", {"release": 0}, id="confirm-before-claim", marks=pytest.mark.slow
    ),
    pytest.param("confirm", "SHARE", {"release": 1}, id="confirm-after-stripe-before-commit"),
]  # fmt: skip


@pytest.mark.parametrize(("step", "mode", "at_death"), KILL_POINTS)
def test_a_worker_killed_mid_renewal_is_rerun_and_stripe_sees_each_change_once(
    decrease, stripe_world, tmp_path, tally, step, mode, at_death
):
    org, change = decrease
    emulator = stripe_world.emulator
    if step == "confirm":
        run_step(
            "schedule", change_id=change.pk, emulator=emulator, tmp_path=tmp_path,
            done=lambda: scheduled(change.pk),
        )  # fmt: skip
        stripe_world.advance(org, org.current_period_end + timedelta(minutes=5))

    crash_during(
        step, change_id=change.pk, mode=mode, emulator=emulator, tmp_path=tmp_path, tally=tally
    )

    # The dead worker's transaction is gone, whatever Stripe had already done.
    change.refresh_from_db()
    assert change.status == "pending"
    assert change.scheduled_at is None if step == "schedule" else change.scheduled_at
    reached = schedule_writes(emulator)
    assert {k: reached[k] for k in at_death} == at_death

    # The beat job runs it again; then Stripe renews and the job confirms.
    if step == "schedule":
        run_step(
            "schedule", change_id=change.pk, emulator=emulator, tmp_path=tmp_path,
            done=lambda: scheduled(change.pk),
        )  # fmt: skip
        stripe_world.advance(org, org.current_period_end + timedelta(minutes=5))
    run_step(
        "confirm", change_id=change.pk, emulator=emulator, tmp_path=tmp_path,
        done=lambda: applied(change.pk),
    )  # fmt: skip

    assert schedule_writes(emulator) == {"create": 1, "phases": 1, "release": 1}
    org = Organization.objects.get(pk=org.pk)
    assert org.seats_purchased == 3
    assert stripe_world.subscription(org)["items"]["data"][0]["quantity"] == 3
    # February bills 3 seats once: no proration, no double charge.
    assert [inv["amount_paid"] for inv in stripe_world.invoices(org)] == [9_000, 5_400]
