"""The seat SQL on SQLite, the demo's database (``make run``).

The ledger append, the seat counts and the usage report are SQL text written for both
PostgreSQL and SQLite; the rest of the suite runs on PostgreSQL. This runs the real
services in a child process on a fresh SQLite file with the local settings. Migrating
SQLite (dj-stripe's migrations) takes about a minute, so it is ``slow``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json
from datetime import timedelta

import django

django.setup()
from django.core.management import call_command
from django.contrib.auth import get_user_model
from django.utils import timezone

call_command("migrate", verbosity=0)
from organizations.services import (
    invitation_create, membership_add_direct, membership_remove, organization_create,
)
from organizations.models import Organization
from seats.models import SeatUsageEvent
from seats.selectors import seat_summary, usage_report

User = get_user_model()
owner = User.objects.create(username="owner", email="owner@sqlite.test")
now = timezone.now()
org = organization_create(name="SQLite", creator=owner, now=now - timedelta(days=70))
Organization.objects.filter(pk=org.pk).update(seats_purchased=10)  # past the trial
org.refresh_from_db()
users = [User.objects.create(username=f"u{i}", email=f"u{i}@sqlite.test") for i in range(3)]
joined = [
    membership_add_direct(organization=org, user=u, actor=owner, now=now - timedelta(days=50))
    for u in users
]
membership_remove(membership=joined[0], actor=owner, now=now - timedelta(days=5))
invitation_create(organization=org, email="new@sqlite.test", actor=owner)
summary = seat_summary(organization=org)
later = seat_summary(organization=org, now=now + timedelta(days=60))
print(json.dumps({
    "ledger": list(SeatUsageEvent.objects.filter(organization=org)
                   .order_by("id").values_list("count", "delta")),
    "summary": [summary.members, summary.pending_invites, later.pending_invites],
    "peaks": [m.peak for m in usage_report(organization=org, anchor=now - timedelta(days=70))],
}))
"""


def test_seat_sql_runs_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'seats.sqlite3'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ledger"] == [[1, 1], [2, 1], [3, 1], [4, 1], [3, -1]]
    assert result["summary"] == [3, 1, 0]
    # Months from 70 days ago: the owner alone, then 4 members, then the removal's month
    # still peaks at 4 (carried in).
    assert result["peaks"] == [4, 4, 4]
