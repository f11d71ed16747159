"""The database goes away in the middle of a request, or restarts between requests.

Mid-request: the request runs in its own thread and connection; another session holds
a SHARE lock on the ledger table, so the request writes its membership row and then
waits to append the ledger row. The test then kills that backend with
``pg_terminate_backend``. The request must fail cleanly (a 500, its transaction rolled
back: no membership without a ledger row, the invitation still pending), and the same
request sent again must succeed.

Between requests: every session of the database is terminated, as a restart does; with
production's persistent connections and health checks the next request reconnects.
"""

from __future__ import annotations

import threading
from wsgiref.util import setup_testing_defaults

import psycopg
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import Client

from organizations.models import Invitation, Membership
from organizations.services import invitation_create
from seats.models import SeatUsageEvent
from tests.factories import UserFactory
from tests.worker import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def holder_connection():
    db = connection.settings_dict
    return psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"])


def waiting_backend(holder, table: str) -> int | None:
    row = holder.execute(
        "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = %s AND NOT l.granted LIMIT 1",
        [table],
    ).fetchone()
    return row[0] if row else None


def in_thread(call):
    """Run ``call`` on its own thread (and so its own connection); returns a getter."""
    result = {}

    def run():
        try:
            result["value"] = call()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()

    def get():
        thread.join(timeout=60)
        assert not thread.is_alive(), "the request never finished"
        return result["value"]

    return get


def rows(org) -> tuple:
    return (
        Membership.objects.filter(organization=org).count(),
        SeatUsageEvent.objects.filter(organization=org).count(),
        list(Invitation.objects.filter(organization=org).values_list("status", flat=True)),
    )


def test_a_connection_killed_mid_request_fails_cleanly_and_a_retry_succeeds(org, owner, tally):
    _invitation, token = invitation_create(organization=org, email="new@acme.test", actor=owner)
    joiner = UserFactory(email="new@acme.test")
    before = rows(org)

    def accept():
        client = Client(raise_request_exception=False)
        client.force_login(joiner)
        return client.post(f"/invitations/{token}/")

    with holder_connection() as holder:
        holder.execute("LOCK TABLE seats_seatusageevent IN SHARE MODE")
        response = in_thread(accept)
        pid = wait_until(
            lambda: waiting_backend(holder, "seats_seatusageevent"),
            what="the request to reach the ledger insert",
        )
        # The request has written its membership row and waits to append to the ledger.
        holder.execute("SELECT pg_terminate_backend(%s)", [pid])
        holder.rollback()
        failed = response()
    tally.add("database connections killed")

    assert failed.status_code == 500
    assert rows(org) == before, "nothing half-written survives"

    retried = in_thread(accept)()
    assert retried.status_code == 302
    members, ledger, statuses = rows(org)
    assert (members, ledger) == (before[0] + 1, before[1] + 1)
    assert statuses == ["accepted"]


def wsgi_get(path: str, *, cookies: str) -> tuple[int, bytes]:
    """A GET through Django's WSGI handler, as gunicorn calls it: unlike the test client
    it runs the request_started/finished hooks that manage persistent connections."""
    environ: dict = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "HTTP_COOKIE": cookies}
    setup_testing_defaults(environ)
    environ["SERVER_NAME"] = "testserver"
    status = {}

    def start_response(line, headers, exc_info=None):
        status["code"] = int(line.split()[0])

    body = b"".join(WSGIHandler()(environ, start_response))
    return status["code"], body


def test_after_a_database_restart_the_next_request_reconnects(org, owner, tally):
    """Production keeps connections (CONN_MAX_AGE) and health-checks them first."""
    client = Client()
    client.force_login(owner)
    cookies = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
    settings_dict = connection.settings_dict
    saved = (settings_dict["CONN_MAX_AGE"], settings_dict["CONN_HEALTH_CHECKS"])
    connection.close()  # the next connection is made with production's settings
    settings_dict["CONN_MAX_AGE"], settings_dict["CONN_HEALTH_CHECKS"] = 60, True
    try:
        assert wsgi_get(f"/o/{org.slug}/members/", cookies=cookies)[0] == 200
        kept = connection.connection
        assert kept is not None  # kept open for the next request
        with holder_connection() as holder:
            holder.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        tally.add("database connections killed")

        status, body = wsgi_get(f"/o/{org.slug}/members/", cookies=cookies)

        assert status == 200
        assert b"owner@acme.test" in body
        assert connection.connection is not kept
    finally:
        settings_dict["CONN_MAX_AGE"], settings_dict["CONN_HEALTH_CHECKS"] = saved
        connection.close()
