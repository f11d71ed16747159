"""The seat-usage ledger.

One row per change in the number of occupied seats (memberships), holding the absolute
count after the change. It is append-only: the ORM refuses updates and deletes, and on
PostgreSQL a trigger (migration 0002) refuses them too, except the GDPR erasure that
nulls ``actor``. Invitations reserve seats but are not in the ledger: the ledger is
what billing reports as usage, and an unaccepted invitation is nobody using a seat.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from organizations.models import Organization


class LedgerImmutable(Exception):
    """Raised on any attempt to change or remove a ledger row through the ORM."""


class Cause(models.TextChoices):
    JOINED = "joined", "Joined"
    REMOVED = "removed", "Removed"
    LEFT = "left", "Left"
    ERASED = "erased", "Erased (GDPR)"
    ORG_DELETED = "org_deleted", "Organization deleted"
    BASELINE = "baseline", "Baseline"


class SeatUsageEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise LedgerImmutable("The seat ledger is append-only; rows cannot be updated.")

    def delete(self):
        raise LedgerImmutable("The seat ledger is append-only; rows cannot be deleted.")

    def actor_erase(self, *, user_id: int) -> int:
        """The one permitted change: GDPR erasure drops references to the actor."""
        return models.QuerySet.update(self.filter(actor_id=user_id), actor=None)


class SeatUsageEvent(models.Model):
    """``count`` is the number of memberships right after this change; ``delta`` is
    +1 per join and -1 per leave (a baseline row's delta equals its count, so summing
    deltas in id order reproduces every count)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="seat_events"
    )
    count = models.PositiveIntegerField()
    delta = models.IntegerField()
    cause = models.CharField(max_length=20, choices=Cause.choices)
    # A plain id, not a foreign key: memberships are deleted on removal, and SET_NULL
    # would be an update of an append-only row. The tombstone carries the same id.
    membership_id = models.BigIntegerField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField()

    objects = SeatUsageEventQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at"], name="seat_event_org_time")]
        constraints = [
            models.CheckConstraint(
                condition=Q(cause="baseline", delta=models.F("count"))
                | (~Q(cause="baseline") & Q(delta__in=[1, -1])),
                name="seat_event_delta_matches_cause",
            ),
            models.CheckConstraint(
                condition=Q(cause__in=Cause.values), name="seat_event_cause_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.count} ({self.delta:+d} {self.cause})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise LedgerImmutable("The seat ledger is append-only; rows cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerImmutable("The seat ledger is append-only; rows cannot be deleted.")
