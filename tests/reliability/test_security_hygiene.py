"""Security hygiene: the deploy checks, invitation tokens, logs, the ledger in the
database, the admin, and GDPR erasure."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from billing import services as billing
from organizations.models import (
    Invitation,
    Membership,
    MembershipRemoval,
    invitation_token_hash,
)
from organizations.services import (
    invitation_accept,
    invitation_create,
    membership_add_direct,
    user_erase,
)
from seats.models import SeatUsageEvent
from seats.selectors import seat_summary
from tests.factories import UserFactory
from tests.reliability.conftest import client_for

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_passes_with_production_settings(tmp_path, tally):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "rel-" + os.urandom(36).hex(),
        "DATABASE_URL": f"sqlite:///{tmp_path}/check.sqlite3",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    env.pop("STRIPE_API_HOST", None)
    # The browser tests' conftest sets this in the test process for Playwright's sync API;
    # it is not part of a deployment, and check --deploy rightly refuses it.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    tally.add("security checks")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- Invitation tokens -----------------------------------------------------------------


def test_invitation_tokens_are_stored_hashed_single_use_and_expiring(org, owner, tally):
    now = timezone.now()
    invitation, token = invitation_create(
        organization=org, email="new@acme.test", actor=owner, now=now
    )
    row = Invitation.objects.filter(pk=invitation.pk).values().get()
    assert token not in {str(v) for v in row.values()}, "the raw token is never stored"
    assert row["token_hash"] == invitation_token_hash(token) != token
    assert len(token) >= 32

    # Expired: refused, and nothing changes.
    late = invitation.expires_at + timedelta(seconds=1)
    joiner = UserFactory(email="new@acme.test")
    members = Membership.objects.count()
    with pytest.raises(ValidationError):
        invitation_accept(token=token, user=joiner, now=late)
    assert Membership.objects.count() == members

    # In time: accepted once; the same token never works again.
    invitation_accept(token=token, user=joiner, now=now + timedelta(minutes=1))
    second = UserFactory(email="second@acme.test")
    with pytest.raises(ValidationError):
        invitation_accept(token=token, user=second, now=now + timedelta(minutes=2))
    assert not Membership.objects.filter(user=second).exists()
    tally.add("security checks", 3)


def test_resending_an_invitation_retires_the_old_token(org, owner, tally):
    from organizations.services import invitation_resend

    invitation, old = invitation_create(organization=org, email="re@acme.test", actor=owner)
    _, new = invitation_resend(invitation=invitation, actor=owner)
    assert new != old
    with pytest.raises(ValidationError):
        invitation_accept(token=old, user=UserFactory(email="re@acme.test"))
    tally.add("security checks")


# --- Logs ------------------------------------------------------------------------------

STRIPE_ID = re.compile(
    r"\b(?:cus|sub|si|sched|sub_sched|in|ii|il|pi|pm|ch|price|prod|cs|evt|we|clock|seti)_"
    r"[A-Za-z0-9]{6,}"
)
SECRET = re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_\w+|\bwhsec_\w+")


def test_info_logs_carry_no_secrets_or_stripe_ids(stripe_world, org, owner, member, caplog, tally):
    caplog.set_level(logging.DEBUG)
    # A whole life: checkout, an increase, a decrease, the renewal job, webhooks.
    org = stripe_world.subscribe(org, owner, seats=3)
    billing.seats_change(organization=org, actor=owner, seats=5)
    org.refresh_from_db()
    billing.seats_change(organization=org, actor=owner, seats=4)
    stripe_world.deliver()
    org.refresh_from_db()
    stripe_world.renew(org)
    billing.reconcile_organization(organization=org)
    invitation_create(organization=org, email="logged@acme.test", actor=owner)

    loud = [r for r in caplog.records if r.levelno >= logging.INFO]
    debug = [r for r in caplog.records if r.levelno < logging.INFO]
    offending = [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in loud
        if STRIPE_ID.search(r.getMessage()) or SECRET.search(r.getMessage())
    ]
    tally.add("security checks")
    tally.add("log records inspected", len(caplog.records))
    assert not offending, offending
    # The capture really saw the ids: the gateway logs them, at debug level only.
    assert any(STRIPE_ID.search(r.getMessage()) for r in debug)


# --- The ledger in the database ------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE seats_seatusageevent SET count = count + 1",
        "UPDATE seats_seatusageevent SET created_at = now()",
        "DELETE FROM seats_seatusageevent",
        "TRUNCATE seats_seatusageevent",
    ],
    ids=["update-count", "update-time", "delete", "truncate"],
)
def test_raw_sql_cannot_change_the_ledger(org, member, sql, tally):
    before = list(SeatUsageEvent.objects.order_by("pk").values_list("pk", "count", "created_at"))
    assert before
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert (
        list(SeatUsageEvent.objects.order_by("pk").values_list("pk", "count", "created_at"))
        == before
    )
    tally.add("security checks")


# --- The admin -------------------------------------------------------------------------


def admin_urls() -> list[str]:
    """Every admin page that needs no object id: the index and each changelist/add."""
    urls = []

    def walk(patterns, prefix):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and "<" not in route and "(?P" not in route:
                urls.append("/" + route.replace("^", "").replace("$", ""))

    walk(get_resolver().url_patterns, "")
    return sorted(u for u in urls if u.startswith("/admin/") and "logout" not in u)


ADMIN_URLS = admin_urls()


@pytest.mark.parametrize("path", ADMIN_URLS)
def test_the_admin_requires_staff(path, owner, org, tally):
    for who in (None, owner):  # anonymous, then the owner of an organization
        response = client_for(who).get(path)
        if path.startswith("/admin/login/"):
            assert response.status_code == 200
            continue
        assert response.status_code == 302, (who, response.status_code)
        assert response["Location"].startswith("/admin/login/")
    tally.add("security checks")


def test_the_admin_sweep_found_the_changelists(staff):
    assert len(ADMIN_URLS) > 5
    assert client_for(staff).get("/admin/").status_code == 200


# --- GDPR ----------------------------------------------------------------------------------


def test_gdpr_erase_is_idempotent_and_keeps_every_count(org, owner, member, staff, tally):
    def counts():
        return (
            SeatUsageEvent.objects.filter(organization=org).count(),
            list(SeatUsageEvent.objects.filter(organization=org).values_list("count", "delta")),
            MembershipRemoval.objects.filter(organization=org).count(),
            seat_summary(organization=org, now=timezone.now()).used,
        )

    membership_add_direct(organization=org, user=UserFactory(), actor=owner)
    used_before = seat_summary(organization=org, now=timezone.now()).used
    user_erase(user=member, actor=staff)
    after_first = counts()
    assert after_first[3] == used_before - 1
    assert not Membership.objects.filter(user=member).exists()

    user_erase(user=member, actor=staff)

    assert counts() == after_first
    member.refresh_from_db()
    assert member.email == "" and not member.is_active
    tombstone = MembershipRemoval.objects.get(organization=org, reason="erased")
    assert tombstone.user_id is None and "@invalid" in tombstone.email
    assert not SeatUsageEvent.objects.filter(actor=member).exists()
    tally.add("security checks")
