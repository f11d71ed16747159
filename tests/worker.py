"""A real Celery worker process for integration tests (moved from
tests/billing/test_worker.py so the reliability suite can start, kill and restart one).

``celery_worker`` starts the same command production runs, on its own queue and node
name, against the test database, the test Redis and the emulator; it points the test
process's Celery app at that queue while it runs. ``wait_until`` waits for another
process's effect without sleeping the test away: it polls and fails with a message.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[1]


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


@contextlib.contextmanager
def celery_worker(*, emulator_url: str, log_path: Path) -> Iterator[subprocess.Popen]:
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
        "STRIPE_API_HOST": emulator_url,
        "REDIS_URL": settings.REDIS_URL,
    }
    saved = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    with open(log_path, "w+") as log:
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
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
