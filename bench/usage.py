"""Measure 2: the monthly usage report on a ledger of a million events.

The ledger is generated in SQL (``generate_series``; bulk INSERT is allowed by the
append-only trigger, which guards UPDATE and DELETE): each org starts with a baseline
row three years ago and then oscillates by ±1 seat, so the count never goes negative
and every month has a different peak. We time ``usage_report`` (one org, 36 months)
against a single hand-written query for the same peaks, and ``usage_report_fleet``
(every org, last month) against its hand-written twin; both pairs must agree. Peak
memory is read in a fresh process (``bench.memprobe``) so nothing else inflates it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.utils import timezone

from bench import core, env
from organizations.models import Organization
from seats.selectors import month_start, usage_months, usage_report, usage_report_fleet

PREFIX = "usage"

ORGS_SQL = """
INSERT INTO organizations_organization
    (name, slug, email, created_at, stripe_subscription_id, subscription_status, plan_tier,
     billing_cycle, cancel_at_period_end, seats_purchased)
SELECT 'usage ' || i, 'usage-' || i, 'usage-' || i || '@bench.test', %(start)s,
       '', '', '', '', false, 1000
  FROM generate_series(1, %(orgs)s) AS i
RETURNING id
"""

# Row n of org k: time spread evenly over the span with jitter (monotonic within the
# org, so id order is time order); delta +1 for `half` steps, then -1 for `half` steps.
LEDGER_SQL = """
INSERT INTO seats_seatusageevent (organization_id, count, delta, cause, membership_id,
                                  actor_id, created_at)
SELECT org_id,
       CASE WHEN n = 0 THEN base ELSE base + sum(step) OVER w END,
       CASE WHEN n = 0 THEN base ELSE step END,
       CASE WHEN n = 0 THEN 'baseline' WHEN step = 1 THEN 'joined' ELSE 'removed' END,
       NULL, NULL,
       %(start)s::timestamptz + make_interval(secs => (n + random() * 0.9) * %(gap)s)
  FROM (
    SELECT o.org_id, o.base, s.n,
           CASE WHEN s.n = 0 THEN 0
                WHEN ((s.n - 1) / o.half) %% 2 = 0 THEN 1 ELSE -1 END AS step
      FROM (SELECT id AS org_id, 5 + (id %% 17) AS base, 3 + (id %% 29) AS half
              FROM organizations_organization WHERE id = ANY(%(ids)s)) AS o
     CROSS JOIN generate_series(0, %(per_org)s - 1) AS s(n)
  ) AS steps
WINDOW w AS (PARTITION BY org_id ORDER BY n ROWS UNBOUNDED PRECEDING)
ORDER BY org_id, n
"""

ONE_ORG_SQL = """
SELECT (SELECT max(v) FROM (
          SELECT (SELECT e.count FROM seats_seatusageevent e
                   WHERE e.organization_id = %(org)s AND e.created_at < m.start
                   ORDER BY e.created_at DESC, e.id DESC LIMIT 1)
          UNION ALL
          SELECT max(e.count) FROM seats_seatusageevent e
           WHERE e.organization_id = %(org)s AND e.created_at >= m.start
             AND e.created_at < m.stop) AS candidates(v))
  FROM unnest(%(starts)s::timestamptz[], %(stops)s::timestamptz[])
       WITH ORDINALITY AS m(start, stop, i)
 ORDER BY m.i
"""

FLEET_SQL = """
SELECT o.id, GREATEST(
         (SELECT e.count FROM seats_seatusageevent e
           WHERE e.organization_id = o.id AND e.created_at < %(start)s
           ORDER BY e.created_at DESC, e.id DESC LIMIT 1),
         inside.peak)
  FROM organizations_organization o
  LEFT JOIN (SELECT organization_id, max(count) AS peak FROM seats_seatusageevent
              WHERE created_at >= %(start)s AND created_at < %(stop)s
              GROUP BY organization_id) AS inside ON inside.organization_id = o.id
 WHERE o.deleted_at IS NULL
 ORDER BY o.id
"""


def ledger_generate(*, orgs: int, rows: int, months: int, now: datetime) -> list[int]:
    """``orgs`` organizations created one day before a ``months``-long ledger of ``rows``
    events ending now. Returns their ids."""
    start = month_start(anchor=now, index=-months) - timedelta(days=1)
    per_org = max(2, rows // orgs)
    gap = (now - start - timedelta(hours=1)).total_seconds() / per_org
    with connection.cursor() as cursor:
        cursor.execute(ORGS_SQL, {"start": start, "orgs": orgs})
        ids = [r[0] for r in cursor.fetchall()]
        cursor.execute(LEDGER_SQL, {"start": start, "gap": gap, "ids": ids, "per_org": per_org})
        cursor.execute("ANALYZE seats_seatusageevent")
    return ids


def run(*, scale: core.Scale, results: core.Results, emulator_url: str) -> None:
    now = timezone.now()
    started = time.monotonic()
    ids = ledger_generate(
        orgs=scale.ledger_orgs, rows=scale.ledger_rows, months=scale.ledger_months, now=now
    )
    generated = time.monotonic() - started
    org = Organization.objects.get(pk=ids[len(ids) // 2])

    # (a) One org's whole history.
    ours_months, ours_times = _timed(lambda: usage_report(organization=org, now=now), repeats=9)
    bounds = usage_months(anchor=org.created_at, now=now)
    params = {"org": org.pk, "starts": [b[0] for b in bounds], "stops": [b[1] for b in bounds]}
    sql_peaks, sql_times = _timed(lambda: _fetch(ONE_ORG_SQL, params), repeats=9)
    ours_peaks = [m.peak for m in ours_months]
    results.row(
        f"usage: one org, {len(bounds)} months, median time",
        core.median(ours_times),
        "ms",
        baseline=core.median(sql_times),
        target="ratio <= 1.5",
        passed=core.median(ours_times) <= 1.5 * core.median(sql_times),
        note=f"{scale.ledger_rows:,} ledger rows across {scale.ledger_orgs:,} orgs, generated "
        f"in SQL in {generated:.1f} s",
    )
    results.check(
        "usage: usage_report agrees with the hand-written query",
        ours_peaks == [r[0] for r in sql_peaks],
        f"({len(ours_peaks)} months)",
    )

    # (b) Every org, last calendar month.
    stop = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (stop - timedelta(days=1)).replace(day=1)
    fleet, fleet_times = _timed(lambda: usage_report_fleet(start=start, end=stop), repeats=3)
    fleet_sql, fleet_sql_times = _timed(
        lambda: _fetch(FLEET_SQL, {"start": start, "stop": stop}), repeats=3
    )
    results.row(
        f"usage: fleet report, {len(fleet):,} orgs, last month",
        core.median(fleet_times) / 1000,
        "s",
        baseline=core.median(fleet_sql_times) / 1000,
        target="< 10 s",
        passed=core.median(fleet_times) < 10_000,
    )
    results.check(
        "usage: usage_report_fleet agrees with the hand-written query",
        [(f.organization_id, f.peak) for f in fleet] == [tuple(r) for r in fleet_sql],
        f"({len(fleet)} orgs)",
    )

    probe = _memory_probe(org_id=org.pk, start=start, stop=stop)
    results.row(
        "usage: peak memory (process RSS) running both reports",
        probe["after_mb"],
        "MB",
        baseline=probe["before_mb"],
        target="< 300 MB",
        passed=probe["after_mb"] < 300,
        note="baseline: the same fresh process after django.setup(), before the reports",
    )


def _timed(call, *, repeats: int):
    call()  # warm caches and the connection; the first run is not measured
    times, value = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        value = call()
        times.append((time.perf_counter() - started) * 1000)
    return value, times


def _fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _memory_probe(*, org_id: int, start: datetime, stop: datetime) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.memprobe", str(org_id), start.isoformat(), stop.isoformat()],
        cwd=env.ROOT,
        env=env.child_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])
