"""Seat writes: the ledger append, the room check and the baseline backfill.

These are called inside the caller's transaction, after the caller has locked the
organization row (``select_for_update``); ``organizations.services`` is the caller for
membership changes, billing for seat changes. Seats never imports those services.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from organizations.models import Membership, Organization
from seats.exceptions import SeatLimitReached
from seats.models import Cause, SeatUsageEvent
from seats.selectors import seat_summary, seats_trial_expired

logger = logging.getLogger(__name__)


def _seats(n: int) -> str:
    return f"{n} seat" if n == 1 else f"{n} seats"


def seats_check_room(
    *, organization: Organization, extra: int = 1, now: datetime | None = None
) -> None:
    """Raise SeatLimitReached unless ``extra`` more seats fit under the cap.

    ``extra=0`` asks whether the current usage is within the cap; accepting an
    invitation uses it, because the invitation's own reservation becomes the member.
    Call it with the organization row locked, or the answer can be stale at commit.
    """
    # bool is an int in Python; True must not pass for one seat.
    if isinstance(extra, bool) or not isinstance(extra, int) or extra < 0:
        raise ValueError(f"extra must be a whole number of seats, 0 or more (got {extra!r})")
    now = now or timezone.now()
    if extra and seats_trial_expired(organization=organization, now=now):
        raise SeatLimitReached(
            f"The trial ended on {organization.trial_ends_at:%d %b %Y}. Choose a plan on "
            "the subscription page to add members."
        )
    summary = seat_summary(organization=organization, now=now)
    if summary.used + extra <= summary.cap:
        return
    if summary.decrease_pending:
        raise SeatLimitReached(
            f"No seats are free: your plan drops to {_seats(summary.at_renewal)} at "
            f"renewal and {summary.used} are in use. Raise or cancel the pending decrease "
            "to add members."
        )
    if summary.free == 0:
        raise SeatLimitReached(
            f"No seats are free: {summary.used} of {_seats(summary.purchased)} are in use. "
            "Add seats on the subscription page, or remove a member or a pending "
            "invitation."
        )
    raise SeatLimitReached(
        f"Only {_seats(summary.free)} free ({summary.used} of {summary.purchased} in use) "
        f"and {extra} are needed. Add seats on the subscription page, or remove members "
        "or pending invitations."
    )


def seat_event_record(
    *,
    organization: Organization,
    delta: int,
    cause: str,
    membership_id: int | None,
    actor,
    now: datetime,
) -> SeatUsageEvent:
    """Append one ledger row for a membership change that has just been written.

    One statement: the database counts the memberships inside the insert itself, so
    the row states the true count at that moment (the caller holds the organization
    lock, which orders the rows), and hands back the previous row's count for the
    drift check. It is the hottest write of the app (every join and removal), hence
    SQL rather than a count, a read and an ORM insert.
    """
    if not transaction.get_connection().in_atomic_block:
        # Outside a transaction the membership change and its row could be split by a
        # crash, and the lock that orders rows would already be released.
        raise RuntimeError("seat_event_record must run inside the membership transaction")
    if delta not in (1, -1):
        raise ValueError("A membership change moves the count by exactly one seat")
    actor_id = actor.pk if actor is not None else None
    with connection.cursor() as cursor:
        cursor.execute(
            _LEDGER_APPEND_SQL,
            {
                "organization_id": organization.pk,
                "delta": delta,
                "cause": str(cause),
                "membership_id": membership_id,
                "actor_id": actor_id,
                "created_at": connection.ops.adapt_datetimefield_value(now),
            },
        )
        event_id, count, previous = cursor.fetchone()
    if previous is not None and previous + delta != count:
        # Something changed memberships without the chokepoint; the row still states
        # the truth, and reconciliation reports the drift.
        logger.warning(
            "Seat ledger drift for organization %s: %s%+d != %s",
            organization.pk,
            previous,
            delta,
            count,
        )
    # As a row read back from the database (``from_db``), so saving it again is refused.
    event = SeatUsageEvent.from_db(
        connection.alias,
        _LEDGER_FIELDS,
        [event_id, organization.pk, count, delta, cause, membership_id, actor_id, now],
    )
    event.organization = organization  # the caller's, locked: no query to reach it
    return event


_LEDGER = SeatUsageEvent._meta.db_table
_LEDGER_FIELDS = [
    "id", "organization_id", "count", "delta", "cause", "membership_id", "actor_id", "created_at",
]  # fmt: skip
_MEMBERSHIPS = Membership._meta.db_table
# The previous row is read in RETURNING with ``id <`` the new row, so it is right
# whether or not the database lets RETURNING see the row being inserted.
_LEDGER_APPEND_SQL = (
    f"INSERT INTO {_LEDGER} "
    "(organization_id, count, delta, cause, membership_id, actor_id, created_at) "
    "SELECT %(organization_id)s, "
    f"(SELECT COUNT(*) FROM {_MEMBERSHIPS} WHERE organization_id = %(organization_id)s), "
    "%(delta)s, %(cause)s, %(membership_id)s, %(actor_id)s, %(created_at)s "
    f"RETURNING id, count, (SELECT previous.count FROM {_LEDGER} previous "
    f"WHERE previous.organization_id = %(organization_id)s AND previous.id < {_LEDGER}.id "
    "ORDER BY previous.id DESC LIMIT 1)"
)


def seat_baseline_backfill(*, now: datetime | None = None) -> int:
    """Start the ledger of every active organization that has none, with one
    ``baseline`` row holding its current member count. Returns how many were written;
    running it again writes nothing."""
    written = 0
    candidates = (
        Organization.objects.active()
        .exclude(seat_events__isnull=False)
        .values_list("pk", flat=True)
    )
    for org_id in candidates:
        with transaction.atomic():
            org = Organization.objects.select_for_update().get(pk=org_id)
            # Re-check under the lock: a join may have started the ledger meanwhile.
            if SeatUsageEvent.objects.filter(organization=org).exists():
                continue
            count = Membership.objects.filter(organization=org).count()
            SeatUsageEvent.objects.create(
                organization=org,
                count=count,
                delta=count,
                cause=Cause.BASELINE,
                membership_id=None,
                actor=None,
                created_at=now or timezone.now(),
            )
            written += 1
    return written
