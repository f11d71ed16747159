"""Measure 3: the renewal job, applied by real Celery workers against the emulator.

Orgs subscribed monthly (built through the emulator's API, see ``bench.world``) whose
period ends within the renewal lead get a due pending change each: a seat decrease, a
switch to annual, or a downgrade from Enterprise. The beat task ``renewal_run`` is
enqueued once; worker processes fan out and write each change into a subscription
schedule, with the emulator limited to 100 requests/s as Stripe's live mode is.

The floor is the Stripe writes the changes need (two each: the schedule and its phases)
÷ 100/s; the workers pace their requests as production does (``billing/pacing.py``).
The audit checks that each change was written exactly once. Then the same job with no
limit and no pacing, and a few changes in this process to count database queries.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import stripe
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench import core, env, world
from billing import catalog, gateway, services, tasks
from billing.models import PendingChange
from billing.stripe_data import subscription_seat_item
from organizations.models import Organization
from seats.selectors import month_start
from stripe_emulator.control import EmulatorControl

RATE = 100
PACE = 90  # production's STRIPE_REQUESTS_PER_SECOND (config/settings/production.py)
WRITES_PER_CHANGE = 2  # create the schedule from the subscription, write its phases
THREADS = 4
# (tier, cycle, seats now) -> (tier, cycle, seats at renewal): decrease, cycle, downgrade.
CHANGES = [
    (("teams", "monthly", 5), ("teams", "monthly", 3)),
    (("teams", "monthly", 5), ("teams", "annual", 5)),
    (("enterprise", "monthly", 5), ("teams", "monthly", 5)),
]
QUERY_SAMPLE = 6


def run(*, scale: core.Scale, results: core.Results, emulator_url: str) -> None:
    # Named after the bench database, so two benches on one Redis never share a queue.
    queue = f"{settings.DATABASES['default']['NAME']}-renewal"
    control = EmulatorControl(emulator_url)
    now = timezone.now()
    # Monthly periods that started a month before "now + 12 h" end inside the lead.
    start = month_start(anchor=now + timedelta(hours=12), index=-1)
    total = scale.renewal_orgs + scale.renewal_unlimited_orgs + QUERY_SAMPLE
    built = time.monotonic()
    pairs = world.subscribed_orgs(
        prefix="renewal", count=total, plans=[c[0] for c in CHANGES], start=start
    )
    built = time.monotonic() - built
    control.webhook_outbox(drain=True)  # the setup's events are not part of this measure
    limited = pairs[: scale.renewal_orgs]
    unlimited = pairs[scale.renewal_orgs : scale.renewal_orgs + scale.renewal_unlimited_orgs]
    sample = pairs[scale.renewal_orgs + scale.renewal_unlimited_orgs :]

    # The rate-limited run paces its workers as production does; the unlimited one
    # measures the app's own overhead, so nothing paces it.
    with env.celery_workers(
        count=scale.renewal_workers,
        concurrency=THREADS,
        queue=queue,
        log_path=env.results_dir() / "celery-renewal-paced.log",
        extra_env={"STRIPE_REQUESTS_PER_SECOND": str(PACE)},
    ):
        control.set_rate_limit(RATE)
        slow = _job(pairs=limited, control=control, queue=queue, timeout=60 + 10 * len(limited))
        control.clear_faults()
    with env.celery_workers(
        count=scale.renewal_workers,
        concurrency=THREADS,
        queue=queue,
        log_path=env.results_dir() / "celery-renewal.log",
    ):
        fast = _job(pairs=unlimited, control=control, queue=queue, timeout=60 + 2 * len(unlimited))

    floor = WRITES_PER_CHANGE * len(limited) / RATE
    efficiency = floor / slow["wall"]
    results.row(
        f"renewal: {len(limited):,} due changes, efficiency at {RATE} req/s",
        efficiency,
        "",
        baseline=None,
        target=">= 0.8",
        passed=efficiency >= 0.8,
        note="the schedule step (Stripe writes before the renewal); the confirm step "
        "after the clock crosses the period end is not timed; "
        f"wall {slow['wall']:.1f} s against a floor of {floor:.1f} s "
        f"({WRITES_PER_CHANGE} writes per change at {RATE}/s); the workers made "
        f"{slow['requests_ok']} requests ({slow['writes']} writes), {slow['throttled']} "
        f"answered 429; paced at {PACE}/s as in production; {scale.renewal_workers} workers "
        f"x {THREADS} threads; setup of {total} subscriptions took {built:.0f} s"
        + ("" if scale.renewal_orgs >= 1000 else "; quick size is below the issue's 1,000"),
    )
    per_change = fast["wall"] / max(1, len(unlimited)) * 1000
    results.row(
        f"renewal: {len(unlimited):,} changes, no rate limit, wall time per change",
        per_change,
        "ms",
        target="reported",
        note=f"{fast['requests_ok']} requests, {fast['wall']:.1f} s wall",
    )
    counts, times = _queries_per_change(pairs=sample)
    results.row(
        "renewal: database queries per change (schedule step)",
        max(counts) if counts else None,
        "queries",
        target="constant",
        passed=bool(counts) and len(set(counts)) == 1,
        note=f"per change in this process: {counts}; {core.median(times):.1f} ms median each",
    )
    for name, outcome in (("rate-limited", slow), ("unlimited", fast)):
        results.check(
            f"renewal ({name}): every change scheduled",
            outcome["unscheduled"] == 0,
            f"({outcome['unscheduled']} of {outcome['changes']} not scheduled)",
        )
        results.check(
            f"renewal ({name}): each schedule created and phased exactly once",
            outcome["duplicates"] == 0 and outcome["missing"] == 0,
            f"(duplicated {outcome['duplicates']}, missing {outcome['missing']})",
        )
        results.check(
            f"renewal ({name}): Stripe's next phase is each change's target",
            outcome["wrong_target"] == 0,
            f"({outcome['wrong_target']} differ)",
        )
    results.check(
        "renewal: every 429 was recovered (all changes scheduled despite throttling)",
        (slow["throttled"] > 0 and slow["unscheduled"] == 0) or slow["throttled"] == 0,
        f"({slow['throttled']} throttled requests)",
    )


def _changes_create(pairs) -> list[PendingChange]:
    now = timezone.now()
    changes = []
    for index, (org, subscription) in enumerate(pairs):
        (tier, cycle, quantity), (to_tier, to_cycle, to_quantity) = CHANGES[index % len(CHANGES)]
        item = subscription_seat_item(subscription)
        changes.append(
            PendingChange(
                organization=org,
                from_quantity=quantity,
                from_tier=tier,
                from_cycle=cycle,
                target_quantity=to_quantity,
                target_tier=to_tier,
                target_cycle=to_cycle,
                stripe_subscription_id=subscription["id"],
                effective_at=item.period_end,
                created_at=now,
                updated_at=now,
            )
        )
    created = PendingChange.objects.bulk_create(changes)
    Organization.objects.filter(pk__in=[o.pk for o, _ in pairs]).update(
        seats_purchased=5, subscription_status="active"
    )
    return created


def _job(*, pairs, control: EmulatorControl, queue: str, timeout: float) -> dict:
    changes = _changes_create(pairs)
    ids = [c.pk for c in changes]
    control.clear_requests()
    started = time.monotonic()
    tasks.renewal_run.apply_async(queue=queue)
    env.wait_for(
        lambda: (
            not PendingChange.objects.filter(
                pk__in=ids, status=PendingChange.Status.PENDING, scheduled_at__isnull=True
            ).exists()
        ),
        timeout=timeout,
        what="the workers to schedule every due change",
    )
    wall = time.monotonic() - started
    log = control.requests()
    control.clear_faults()  # the checks below read Stripe without the limit
    return {"wall": wall, "changes": len(ids), **_audit(ids=ids, log=log)}


def _audit(*, ids: list[int], log: list[dict]) -> dict:
    ok = [e for e in log if e["status"] == 200]
    applied = [e for e in ok if e["method"] == "POST" and not e["replayed"]]
    creates = Counter(
        e["params"].get("from_subscription")
        for e in applied
        if e["path"] == "/v1/subscription_schedules"
    )
    phased = Counter(
        e["path"].rsplit("/", 1)[-1]
        for e in applied
        if e["path"].startswith("/v1/subscription_schedules/")
    )
    changes = list(PendingChange.objects.filter(pk__in=ids))
    duplicates = sum(1 for n in creates.values() if n > 1) + sum(
        1 for n in phased.values() if n > 1
    )
    missing = sum(
        1
        for c in changes
        if creates.get(c.stripe_subscription_id) != 1 or phased.get(c.stripe_schedule_id) != 1
    )
    wrong = 0
    for change in changes:
        if not change.stripe_schedule_id:
            wrong += 1
            continue
        schedule = stripe.SubscriptionSchedule.retrieve(
            change.stripe_schedule_id, **gateway._options()
        )
        item = schedule["phases"][-1]["items"][0]
        target = catalog.plan_get(tier=change.target_tier, cycle=change.target_cycle)
        price = item["price"] if isinstance(item["price"], str) else item["price"]["id"]
        if price != target.price_id or item["quantity"] != change.target_quantity:
            wrong += 1
    return {
        "requests_ok": len(ok),
        "writes": sum(1 for e in ok if e["method"] == "POST"),
        "throttled": sum(1 for e in log if e["status"] == 429),
        "unscheduled": sum(
            1 for c in changes if c.scheduled_at is None or c.status != PendingChange.Status.PENDING
        ),
        "duplicates": duplicates,
        "missing": missing,
        "wrong_target": wrong,
    }


def _queries_per_change(*, pairs) -> tuple[list[int], list[float]]:
    counts, times = [], []
    for change in _changes_create(pairs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            outcome = services.pending_change_schedule(change_id=change.pk)
            times.append((time.perf_counter() - started) * 1000)
        if outcome != "scheduled":
            raise RuntimeError(f"pending change {change.pk} was {outcome}, not scheduled")
        counts.append(len(captured))
    return counts, times
