"""The bench's surroundings: its own database (created, migrated when the migrations
changed, emptied per run), the Stripe emulator in its own process, free ports and
Celery workers, all started and stopped by the harness."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DSN = os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def results_dir() -> Path:
    """Where the JSON and the child processes' logs go (the --out file's folder)."""
    path = Path(os.environ.get("BENCH_RESULTS_DIR", ROOT / "bench" / "results"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        pause.wait(0.05)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def database_ensure(name: str) -> None:
    """Create the database if it is missing (PostgreSQL has no CREATE IF NOT EXISTS)."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def run_lock(name: str):
    """One bench run per database: a second one would truncate the first one's tables
    under it. A session advisory lock dies with its connection, so a crash frees it."""
    with psycopg.connect(dsn_for(name), autocommit=True) as conn:
        got = conn.execute("SELECT pg_try_advisory_lock(hashtext('seatwise-bench'))").fetchone()
        if not got[0]:
            raise SystemExit(
                f"Another bench run is using the database {name!r}; wait for it to finish, "
                "or give this one its own with BENCH_DATABASE_NAME."
            )
        yield


def dsn_for(name: str) -> str:
    return ADMIN_DSN.rsplit("/", 1)[0] + "/" + name


def django_database_ready() -> None:
    """Migrate only when a migration is unapplied, then empty every table (TRUNCATE is
    what the test runner uses too; the ledger's trigger guards UPDATE and DELETE)."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        call_command("migrate", verbosity=0, interactive=False)
    tables = [
        t
        for t in connection.introspection.django_table_names(only_existing=True)
        if t not in ("django_migrations", "django_content_type", "auth_permission")
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )


@contextmanager
def emulator_process():
    """`python -m stripe_emulator` in a process of its own, so its work does not share
    the harness's interpreter lock. Webhooks wait in its outbox until drained."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(results_dir() / "emulator.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "stripe_emulator", "--port", str(port), "--webhook-mode", "outbox"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _answers(url) or process.poll() is not None, timeout=30, what="emulator")
        if process.poll() is not None:
            raise RuntimeError(f"the Stripe emulator exited; see {results_dir()}/emulator.log")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_emulator/health", timeout=1):
            return True
    except OSError:
        return False


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process (worker, gunicorn) to see the same world."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


@contextmanager
def celery_workers(
    *,
    count: int,
    concurrency: int,
    queue: str,
    log_path: Path,
    publish_queue: str = "",
    extra_env: dict[str, str] | None = None,
):
    """Real Celery workers (the production command, thread pool) on a queue of their own.
    The tasks they enqueue go to ``publish_queue`` when given (read by no worker, so a
    measure can count them), to ``queue`` otherwise; ``extra_env`` reaches their settings."""
    from config.celery import app as celery_app

    processes = []
    names = []
    log = open(log_path, "w")  # noqa: SIM115
    try:
        for i in range(count):
            name = f"{queue}-{i}@localhost"
            names.append(name)
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "config",
                        "worker",
                        "-Q",
                        queue,
                        "-n",
                        name,
                        "--pool=threads",
                        f"--concurrency={concurrency}",
                        "--without-heartbeat",
                        "--without-gossip",
                        "--without-mingle",
                        "--loglevel=WARNING",
                    ],
                    cwd=ROOT,
                    env=child_env(
                        CELERY_TASK_DEFAULT_QUEUE=publish_queue or queue, **(extra_env or {})
                    ),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        for name, process in zip(names, processes, strict=True):
            wait_for(
                lambda n=name, p=process: (
                    p.poll() is not None or celery_app.control.ping(destination=[n], timeout=0.5)
                ),
                timeout=90,
                what=f"Celery worker {name}",
            )
            if process.poll() is not None:
                raise RuntimeError(f"a Celery worker exited; see {log_path}")
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
