"""Tenants and the people in them.

Rows here are written only by ``organizations.services``; the invariants below (one
owner at least, one pending invitation per address, a tombstone per removal) are kept
there, under a lock on the organization row.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class OrganizationQuerySet(models.QuerySet):
    def active(self) -> OrganizationQuerySet:
        return self.filter(deleted_at__isnull=True)


class Organization(models.Model):
    """The tenant. Every tenant-owned row points here.

    It is dj-stripe's subscriber model, which is why it carries a billing ``email``.
    ``seats_purchased``, ``seats_at_renewal`` and ``billing_anchor`` mirror Stripe and
    are written only by billing's sync service (and by tests and the demo seed); seats
    reads them so it can compute capacity without importing billing.
    Deletion is soft: the seat ledger points here and is append-only.
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    email = models.EmailField(help_text="Billing email, sent to Stripe as the customer's.")
    created_at = models.DateTimeField()
    seats_purchased = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Paid seats in the current period. Empty: no paid subscription, the "
        "trial cap applies.",
    )
    seats_at_renewal = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Target of a pending seat decrease. Empty: no pending decrease.",
    )
    billing_anchor = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Subscription start that anchors monthly reports. Empty: created_at.",
    )
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    # The rest of billing's mirror of Stripe, written only by
    # billing.services.subscription_sync (blank: never subscribed).
    stripe_subscription_id = models.CharField(max_length=255, blank=True, db_index=True)
    subscription_status = models.CharField(
        max_length=32, blank=True, help_text="Stripe's subscription status."
    )
    plan_tier = models.CharField(max_length=32, blank=True)
    billing_cycle = models.CharField(max_length=16, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    billing_synced_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    BILLING_MANAGER = "billing_manager", "Billing manager"
    MEMBER = "member", "Member"


class JoinedVia(models.TextChoices):
    CREATOR = "creator", "Created the organization"
    INVITATION = "invitation", "Accepted an invitation"
    DOMAIN = "domain", "Verified email domain"
    STAFF = "staff", "Added by staff"
    API = "api", "Added through the API"


class Membership(models.Model):
    """A user occupying one seat in an organization. Removing it deletes the row and
    writes a MembershipRemoval tombstone in the same transaction."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    joined_via = models.CharField(max_length=20, choices=JoinedVia.choices)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"], name="membership_one_per_user_and_org"
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"


def invitation_token_hash(token: str) -> str:
    """Only this digest is stored, so a database leak does not leak usable links."""
    return hashlib.sha256(token.encode()).hexdigest()


class InvitationQuerySet(models.QuerySet):
    def pending(self, *, now: datetime) -> InvitationQuerySet:
        """Invitations that reserve a seat: not accepted, not revoked, not expired."""
        return self.filter(status=InvitationStatus.PENDING, expires_at__gt=now)


class Invitation(models.Model):
    """An emailed offer to join. A pending, unexpired invitation reserves a seat.

    ``expired`` is derived from ``expires_at``, never stored, so no job has to flip it.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="invitations"
    )
    email = models.EmailField(help_text="Stored lower-cased.")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=10, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=Q(status="pending"),
                name="invitation_one_pending_per_email",
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="invitation_role_valid"),
            models.CheckConstraint(
                condition=Q(status__in=InvitationStatus.values), name="invitation_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["organization", "status", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization} ({self.status})"

    def is_expired(self, *, now: datetime) -> bool:
        return self.expires_at <= now


class RemovalReason(models.TextChoices):
    REMOVED = "removed", "Removed"
    LEFT = "left", "Left"
    ERASED = "erased", "Erased (GDPR)"
    ORG_DELETED = "org_deleted", "Organization deleted"


class MembershipRemoval(models.Model):
    """Tombstone of a membership, written in the transaction that deleted it.

    ``membership_id`` ties it to the ledger's -1 row. Erasing the user replaces the
    email snapshot and drops the user link; role, time and reason stay for the audit.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="removals"
    )
    membership_id = models.BigIntegerField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    email = models.EmailField(help_text="Snapshot at removal time.")
    previous_role = models.CharField(max_length=20, choices=Role.choices)
    joined_via = models.CharField(max_length=20, choices=JoinedVia.choices)
    joined_at = models.DateTimeField()
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    removed_at = models.DateTimeField()
    reason = models.CharField(max_length=20, choices=RemovalReason.choices)

    class Meta:
        indexes = [models.Index(fields=["organization", "removed_at"])]

    def __str__(self) -> str:
        return f"{self.email} left {self.organization} ({self.reason})"


class OrganizationDomain(models.Model):
    """An email domain whose verified users may join the organization by themselves.

    A domain may be verified for one organization only; unverified claims are free.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, help_text="Lower-case, without '@'.")
    created_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "domain"], name="domain_once_per_org"),
            models.UniqueConstraint(
                fields=["domain"],
                condition=Q(verified_at__isnull=False),
                name="domain_verified_for_one_org",
            ),
        ]

    def __str__(self) -> str:
        return self.domain
