"""Every write to organizations, memberships, invitations and tombstones.

All ways into an organization end in ``_membership_create`` and all ways out end in
``_membership_delete``: the chokepoint. Both run under a lock on the organization row,
check seats with ``seats.services``, and append the ledger row in the same transaction.
Each public service takes ``actor=`` and ``now=`` keyword-only, owns its transaction,
and checks the actor's role itself (views check too, but are not the last line).

Who may do what: owners and billing managers invite and remove members; only owners
grant or touch the owner and billing manager roles, change roles, transfer ownership,
manage domains and delete the organization; anyone may leave (the last owner may not);
staff may act on any organization from the Django admin.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.text import slugify

from organizations.exceptions import InvitationInvalid, NotAllowed
from organizations.models import (
    Invitation,
    InvitationStatus,
    JoinedVia,
    Membership,
    MembershipRemoval,
    Organization,
    OrganizationDomain,
    RemovalReason,
    Role,
    invitation_token_hash,
)
from seats.models import Cause, SeatUsageEvent
from seats.services import seat_event_record, seats_check_room

User = get_user_model()

MANAGER_ROLES = (Role.OWNER, Role.BILLING_MANAGER)
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


# --- Input cleaning -----------------------------------------------------------------


def _clean_email(email) -> str:
    if not isinstance(email, str) or not email.strip():
        raise ValidationError("Enter an email address.", code="invalid_email")
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError(
            f"{email!r} is not a valid email address.", code="invalid_email"
        ) from None
    return email.lower()


def _clean_role(role) -> str:
    if role not in Role.values:
        raise ValidationError(
            f"Unknown role {role!r}. Choose one of: {', '.join(Role.values)}.",
            code="invalid_role",
        )
    return role


def _label(user) -> str:
    return user.email or user.get_username()


# --- Locks and permissions ------------------------------------------------------------


def _organization_lock(*, organization_id: int) -> Organization:
    """Lock the organization row. Every count of seats happens after this, so two
    concurrent joins are serialized and the second one sees the first."""
    org = Organization.objects.select_for_update().get(pk=organization_id)
    if org.deleted_at is not None:
        raise ValidationError(f"{org.name} has been deleted.", code="organization_deleted")
    return org


def _is_staff(user) -> bool:
    return bool(user is not None and user.is_active and user.is_staff)


def _role_of(*, organization: Organization, user) -> str | None:
    if user is None or not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(organization=organization, user=user)
        .values_list("role", flat=True)
        .first()
    )


def _require_manager(*, organization: Organization, actor, role: str) -> None:
    """``role`` is the role being granted or acted upon: owner and billing manager
    roles are for owners to hand out or take away."""
    if _is_staff(actor):
        return
    actor_role = _role_of(organization=organization, user=actor)
    if actor_role is None:
        raise NotAllowed(f"You are not a member of {organization.name}.")
    if actor_role not in MANAGER_ROLES:
        raise NotAllowed("Only owners and billing managers can manage members.")
    if role in MANAGER_ROLES and actor_role != Role.OWNER:
        raise NotAllowed("Only owners can manage owners and billing managers.")


def _require_owner(*, organization: Organization, actor) -> None:
    if _is_staff(actor):
        return
    actor_role = _role_of(organization=organization, user=actor)
    if actor_role is None:
        raise NotAllowed(f"You are not a member of {organization.name}.")
    if actor_role != Role.OWNER:
        raise NotAllowed("Only owners can do this.")


def _is_last_owner(*, membership: Membership) -> bool:
    return (
        membership.role == Role.OWNER
        and not Membership.objects.filter(
            organization_id=membership.organization_id, role=Role.OWNER
        )
        .exclude(pk=membership.pk)
        .exists()
    )


# --- The chokepoint ---------------------------------------------------------------------


def _membership_create(
    *,
    organization: Organization,
    user,
    role: str,
    via: str,
    actor,
    now: datetime,
    seat_extra: int = 1,
) -> Membership:
    """The only place a membership is created. The caller holds the organization lock."""
    if not user.is_active:
        raise ValidationError(f"{_label(user)} is deactivated.", code="user_inactive")
    if Membership.objects.filter(organization=organization, user=user).exists():
        raise ValidationError(
            f"{_label(user)} is already a member of {organization.name}.",
            code="already_member",
        )
    seats_check_room(organization=organization, extra=seat_extra, now=now)
    membership = Membership.objects.create(
        organization=organization, user=user, role=role, joined_via=via, created_at=now
    )
    seat_event_record(
        organization=organization,
        delta=+1,
        cause=Cause.JOINED,
        membership_id=membership.pk,
        actor=actor,
        now=now,
    )
    return membership


def _membership_delete(
    *, organization: Organization, membership: Membership, reason: str, actor, now: datetime
) -> MembershipRemoval:
    """The only place a membership is deleted: tombstone, delete, ledger row, in one
    transaction. The caller holds the organization lock."""
    tombstone = MembershipRemoval.objects.create(
        organization=organization,
        membership_id=membership.pk,
        user=membership.user,
        email=membership.user.email,
        previous_role=membership.role,
        joined_via=membership.joined_via,
        joined_at=membership.created_at,
        removed_by=actor,
        removed_at=now,
        reason=reason,
    )
    membership_id = membership.pk
    membership.delete()
    seat_event_record(
        organization=organization,
        delta=-1,
        cause=reason,  # RemovalReason values are the ledger's causes.
        membership_id=membership_id,
        actor=actor,
        now=now,
    )
    return tombstone


# --- Organizations ----------------------------------------------------------------------


def _unique_slug(*, name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug = base
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


def organization_create(
    *, name: str, creator, email: str | None = None, now: datetime | None = None
) -> Organization:
    """Create an organization on trial; its creator becomes the first owner."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("Enter a name for the organization.", code="invalid_name")
    name = name.strip()
    if len(name) > 200:
        raise ValidationError("The name is longer than 200 characters.", code="invalid_name")
    email = _clean_email(email if email is not None else creator.email)
    now = now or timezone.now()
    with transaction.atomic():
        org = Organization.objects.create(
            name=name,
            slug=_unique_slug(name=name),
            email=email,
            created_at=now,
            trial_ends_at=now + timedelta(days=settings.SEATWISE_TRIAL_DAYS),
        )
        # The new row is invisible to other transactions until commit, so it needs no lock.
        _membership_create(
            organization=org,
            user=creator,
            role=Role.OWNER,
            via=JoinedVia.CREATOR,
            actor=creator,
            now=now,
        )
    return org


def organization_delete(*, organization: Organization, actor, now: datetime | None = None):
    """Soft-delete: every member leaves (one -1 ledger row each), pending invitations
    are revoked and verified domains released. The ledger and tombstones stay."""
    with transaction.atomic():
        org = _organization_lock(organization_id=organization.pk)
        _require_owner(organization=org, actor=actor)
        now = now or timezone.now()
        memberships = (
            Membership.objects.select_for_update()
            .filter(organization=org)
            .select_related("user")
            .order_by("pk")
        )
        for membership in memberships:
            _membership_delete(
                organization=org,
                membership=membership,
                reason=RemovalReason.ORG_DELETED,
                actor=actor,
                now=now,
            )
        Invitation.objects.filter(organization=org, status=InvitationStatus.PENDING).update(
            status=InvitationStatus.REVOKED, revoked_at=now
        )
        OrganizationDomain.objects.filter(organization=org).delete()
        org.deleted_at = now
        org.save(update_fields=["deleted_at"])
    return org


# --- Invitations ------------------------------------------------------------------------


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, invitation_token_hash(token)


def invitation_create(
    *,
    organization: Organization,
    email: str,
    role: str = Role.MEMBER,
    actor,
    now: datetime | None = None,
) -> tuple[Invitation, str]:
    """Invite an address; it reserves a seat until accepted, revoked or expired.

    Returns the invitation and its raw token. Only the token's hash is stored, so this
    is the one moment the token exists: put it in the email now.
    """
    email = _clean_email(email)
    role = _clean_role(role)
    with transaction.atomic():
        org = _organization_lock(organization_id=organization.pk)
        _require_manager(organization=org, actor=actor, role=role)
        now = now or timezone.now()
        if Membership.objects.filter(organization=org, user__email__iexact=email).exists():
            raise ValidationError(
                f"{email} is already a member of {org.name}.", code="already_member"
            )
        existing = (
            Invitation.objects.select_for_update()
            .filter(organization=org, email=email, status=InvitationStatus.PENDING)
            .first()
        )
        if existing is not None:
            if not existing.is_expired(now=now):
                raise ValidationError(
                    f"{email} already has a pending invitation. Resend it instead.",
                    code="duplicate_invitation",
                )
            # An expired invitation still holds the one-pending-per-address slot;
            # retire it so the new one can take its place.
            existing.status = InvitationStatus.REVOKED
            existing.revoked_at = now
            existing.save(update_fields=["status", "revoked_at"])
        seats_check_room(organization=org, extra=1, now=now)
        token, token_hash = _new_token()
        invitation = Invitation.objects.create(
            organization=org,
            email=email,
            role=role,
            token_hash=token_hash,
            invited_by=actor,
            created_at=now,
            expires_at=now + settings.SEATWISE_INVITATION_TTL,
        )
    return invitation, token


def _invitation_lock(*, invitation: Invitation) -> tuple[Organization, Invitation]:
    org = _organization_lock(organization_id=invitation.organization_id)
    return org, Invitation.objects.select_for_update().get(pk=invitation.pk)


def invitation_resend(
    *, invitation: Invitation, actor, now: datetime | None = None
) -> tuple[Invitation, str]:
    """Rotate the token (old links stop working) and restart the expiry clock."""
    with transaction.atomic():
        org, invitation = _invitation_lock(invitation=invitation)
        _require_manager(organization=org, actor=actor, role=invitation.role)
        now = now or timezone.now()
        if invitation.status != InvitationStatus.PENDING:
            raise ValidationError(
                f"This invitation was already {invitation.status}; it cannot be resent.",
                code="invitation_not_pending",
            )
        if invitation.is_expired(now=now):
            # An expired invitation reserved nothing; reviving it takes a seat again.
            seats_check_room(organization=org, extra=1, now=now)
        token, invitation.token_hash = _new_token()
        invitation.expires_at = now + settings.SEATWISE_INVITATION_TTL
        invitation.save(update_fields=["token_hash", "expires_at"])
    return invitation, token


def invitation_revoke(*, invitation: Invitation, actor, now: datetime | None = None) -> Invitation:
    with transaction.atomic():
        org, invitation = _invitation_lock(invitation=invitation)
        _require_manager(organization=org, actor=actor, role=invitation.role)
        now = now or timezone.now()
        if invitation.status != InvitationStatus.PENDING:
            raise ValidationError(
                f"This invitation was already {invitation.status}.",
                code="invitation_not_pending",
            )
        invitation.status = InvitationStatus.REVOKED
        invitation.revoked_at = now
        invitation.save(update_fields=["status", "revoked_at"])
    return invitation


def invitation_accept(*, token: str, user, now: datetime | None = None) -> Membership:
    """Join through an invitation. The invitation's own reservation is the seat, so it
    needs no free seat beyond it (but the org must not be over its cap)."""
    if not isinstance(token, str) or not token:
        raise InvitationInvalid("This invitation link is not valid.", code="invalid_token")
    found = (
        Invitation.objects.filter(token_hash=invitation_token_hash(token))
        .values_list("pk", "organization_id")
        .first()
    )
    if found is None:
        raise InvitationInvalid(
            "This invitation link is not valid. It may have been replaced by a newer one.",
            code="invalid_token",
        )
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=found[1])
        invitation = Invitation.objects.select_for_update().get(pk=found[0])
        now = now or timezone.now()
        if invitation.status == InvitationStatus.REVOKED or org.deleted_at is not None:
            raise InvitationInvalid(
                "This invitation was revoked. Ask the organization for a new one.",
                code="revoked",
            )
        if invitation.status == InvitationStatus.ACCEPTED:
            raise InvitationInvalid("This invitation has already been used.", code="used")
        if invitation.is_expired(now=now):
            raise InvitationInvalid(
                f"This invitation expired on {invitation.expires_at:%d %b %Y}. "
                "Ask the organization to resend it.",
                code="expired",
            )
        if (user.email or "").lower() != invitation.email:
            raise InvitationInvalid(
                "This invitation was sent to a different email address. Sign in with "
                "the invited address to accept it.",
                code="email_mismatch",
            )
        membership = _membership_create(
            organization=org,
            user=user,
            role=invitation.role,
            via=JoinedVia.INVITATION,
            actor=user,
            now=now,
            seat_extra=0,
        )
        invitation.status = InvitationStatus.ACCEPTED
        invitation.accepted_at = now
        invitation.accepted_by = user
        invitation.save(update_fields=["status", "accepted_at", "accepted_by"])
    return membership


# --- Joining without an invitation -----------------------------------------------------


def membership_join_by_domain(
    *, user, verified_email: str, now: datetime | None = None
) -> Membership | None:
    """Auto-join the organization that verified the domain of ``verified_email``.

    The caller (sign-up or email confirmation) vouches that the user proved they own
    that address. Returns None when no organization claims the domain or the user is
    already in it, because this runs on every confirmation and must be repeatable.
    """
    email = _clean_email(verified_email)
    if (user.email or "").lower() != email:
        raise ValidationError(
            "The verified address is not this user's email address.", code="email_mismatch"
        )
    domain = email.rsplit("@", 1)[1]
    org_id = (
        OrganizationDomain.objects.filter(
            domain=domain, verified_at__isnull=False, organization__deleted_at__isnull=True
        )
        .values_list("organization_id", flat=True)
        .first()
    )
    if org_id is None:
        return None
    with transaction.atomic():
        org = _organization_lock(organization_id=org_id)
        if Membership.objects.filter(organization=org, user=user).exists():
            return None
        return _membership_create(
            organization=org,
            user=user,
            role=Role.MEMBER,
            via=JoinedVia.DOMAIN,
            actor=user,
            now=now or timezone.now(),
        )


def membership_add_staff(
    *,
    organization: Organization,
    user,
    role: str = Role.MEMBER,
    actor,
    now: datetime | None = None,
) -> Membership:
    """Staff add from the Django admin. Seats still apply: staff do not mint seats."""
    role = _clean_role(role)
    if not _is_staff(actor):
        raise NotAllowed("Only staff can add members from the admin.")
    with transaction.atomic():
        org = _organization_lock(organization_id=organization.pk)
        return _membership_create(
            organization=org,
            user=user,
            role=role,
            via=JoinedVia.STAFF,
            actor=actor,
            now=now or timezone.now(),
        )


def membership_add_direct(
    *,
    organization: Organization,
    user,
    role: str = Role.MEMBER,
    actor,
    now: datetime | None = None,
) -> Membership:
    """Add an existing user without an invitation (the API's add-member endpoint)."""
    role = _clean_role(role)
    with transaction.atomic():
        org = _organization_lock(organization_id=organization.pk)
        _require_manager(organization=org, actor=actor, role=role)
        return _membership_create(
            organization=org,
            user=user,
            role=role,
            via=JoinedVia.API,
            actor=actor,
            now=now or timezone.now(),
        )


# --- Leaving ---------------------------------------------------------------------------


def _membership_lock(*, membership: Membership) -> tuple[Organization, Membership]:
    org = _organization_lock(organization_id=membership.organization_id)
    locked = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(pk=membership.pk)
        .first()
    )
    if locked is None:
        raise ValidationError("This membership no longer exists.", code="membership_gone")
    return org, locked


def membership_remove(
    *, membership: Membership, actor, now: datetime | None = None
) -> MembershipRemoval:
    with transaction.atomic():
        org, membership = _membership_lock(membership=membership)
        if actor is not None and membership.user_id == actor.pk:
            raise ValidationError(
                "You cannot remove yourself; leave the organization instead.",
                code="remove_self",
            )
        _require_manager(organization=org, actor=actor, role=membership.role)
        if _is_last_owner(membership=membership):
            raise ValidationError(
                f"{_label(membership.user)} is the last owner of {org.name}. Make another "
                "member an owner first.",
                code="last_owner",
            )
        return _membership_delete(
            organization=org,
            membership=membership,
            reason=RemovalReason.REMOVED,
            actor=actor,
            now=now or timezone.now(),
        )


def membership_leave(
    *, membership: Membership, actor, now: datetime | None = None
) -> MembershipRemoval:
    with transaction.atomic():
        org, membership = _membership_lock(membership=membership)
        if actor is None or membership.user_id != actor.pk:
            raise NotAllowed("Only the member themselves can leave; ask an owner to remove.")
        if _is_last_owner(membership=membership):
            raise ValidationError(
                f"You are the last owner of {org.name}. Transfer ownership or delete the "
                "organization before leaving.",
                code="last_owner",
            )
        return _membership_delete(
            organization=org,
            membership=membership,
            reason=RemovalReason.LEFT,
            actor=actor,
            now=now or timezone.now(),
        )


# --- Roles ------------------------------------------------------------------------------


def membership_role_change(
    *, membership: Membership, role: str, actor, now: datetime | None = None
) -> Membership:
    """Change a role. Seats do not change, so the ledger does not either."""
    role = _clean_role(role)
    with transaction.atomic():
        org, membership = _membership_lock(membership=membership)
        _require_owner(organization=org, actor=actor)
        if membership.role == role:
            return membership
        if _is_last_owner(membership=membership):
            raise ValidationError(
                f"{_label(membership.user)} is the last owner of {org.name}. Make another "
                "member an owner first.",
                code="last_owner",
            )
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def organization_ownership_transfer(
    *,
    organization: Organization,
    new_owner,
    actor,
    demote_to: str = Role.BILLING_MANAGER,
    now: datetime | None = None,
) -> Membership:
    """Make ``new_owner`` (already a member) an owner and step the acting owner down."""
    demote_to = _clean_role(demote_to)
    with transaction.atomic():
        org = _organization_lock(organization_id=organization.pk)
        actor_membership = (
            Membership.objects.select_for_update().filter(organization=org, user=actor).first()
        )
        if actor_membership is None:
            raise NotAllowed(f"You are not a member of {org.name}.")
        if actor_membership.role != Role.OWNER:
            raise NotAllowed("Only owners can transfer ownership.")
        target = (
            Membership.objects.select_for_update().filter(organization=org, user=new_owner).first()
        )
        if target is None:
            raise ValidationError(
                f"{_label(new_owner)} is not a member of {org.name}; add them first.",
                code="not_member",
            )
        if target.pk == actor_membership.pk:
            raise ValidationError("You already own this organization.", code="same_owner")
        target.role = Role.OWNER
        target.save(update_fields=["role"])
        actor_membership.role = demote_to
        actor_membership.save(update_fields=["role"])
    return target


# --- Domains ----------------------------------------------------------------------------


def _clean_domain(domain) -> str:
    if not isinstance(domain, str):
        raise ValidationError("Enter a domain such as example.com.", code="invalid_domain")
    domain = domain.strip().lower().lstrip("@")
    if not DOMAIN_RE.match(domain):
        raise ValidationError(
            f"{domain!r} is not a domain name such as example.com.", code="invalid_domain"
        )
    return domain


def organization_domain_add(
    *, organization: Organization, domain: str, actor, now: datetime | None = None
) -> OrganizationDomain:
    """Claim a domain; it admits nobody until staff (or DNS proof, later) verify it."""
    domain = _clean_domain(domain)
    with transaction.atomic():
        org = _organization_lock(organization_id=organization.pk)
        _require_owner(organization=org, actor=actor)
        if OrganizationDomain.objects.filter(organization=org, domain=domain).exists():
            raise ValidationError(f"{domain} is already claimed.", code="duplicate_domain")
        return OrganizationDomain.objects.create(
            organization=org, domain=domain, created_at=now or timezone.now()
        )


def organization_domain_verify(
    *, domain: OrganizationDomain, actor, now: datetime | None = None
) -> OrganizationDomain:
    if not _is_staff(actor):
        raise NotAllowed("Only staff can verify domains.")
    with transaction.atomic():
        _organization_lock(organization_id=domain.organization_id)
        domain = OrganizationDomain.objects.select_for_update().get(pk=domain.pk)
        if domain.verified_at is not None:
            return domain
        taken = (
            OrganizationDomain.objects.filter(domain=domain.domain, verified_at__isnull=False)
            .exclude(pk=domain.pk)
            .exists()
        )
        if taken:
            raise ValidationError(
                f"{domain.domain} is already verified for another organization.",
                code="domain_taken",
            )
        domain.verified_at = now or timezone.now()
        domain.save(update_fields=["verified_at"])
    return domain


# --- GDPR -------------------------------------------------------------------------------


def user_erase(*, user, actor, now: datetime | None = None) -> None:
    """Erase a person: leave every organization (reason ``erased``), anonymize their
    tombstones and invitations, drop ledger and audit references to them, and scrub
    the user row. Counts are untouched. Running it again changes nothing.

    Refused while they are the last owner of an organization, which would be left with
    nobody able to manage it; ownership moves first.
    """
    if not (_is_staff(actor) or (actor is not None and actor.pk == user.pk)):
        raise NotAllowed("Only staff or the person themselves can erase an account.")
    with transaction.atomic():
        org_ids = list(
            Membership.objects.filter(user=user)
            .order_by("organization_id")
            .values_list("organization_id", flat=True)
        )
        # Lock in id order so two erasures touching the same orgs cannot deadlock.
        orgs = {
            org.pk: org
            for org in Organization.objects.select_for_update()
            .filter(pk__in=org_ids)
            .order_by("pk")
        }
        now = now or timezone.now()
        memberships = list(
            Membership.objects.select_for_update().select_related("user").filter(user=user)
        )
        for membership in memberships:
            if _is_last_owner(membership=membership):
                org = orgs[membership.organization_id]
                raise ValidationError(
                    f"{_label(user)} is the last owner of {org.name}. Transfer ownership "
                    "or delete the organization first.",
                    code="last_owner",
                )
        for membership in memberships:
            _membership_delete(
                organization=orgs[membership.organization_id],
                membership=membership,
                reason=RemovalReason.ERASED,
                actor=actor,
                now=now,
            )
        MembershipRemoval.objects.filter(user=user).update(
            user=None,
            email=Concat(Value("erased-user-"), Cast("id", CharField()), Value("@invalid")),
        )
        MembershipRemoval.objects.filter(removed_by=user).update(removed_by=None)
        SeatUsageEvent.objects.actor_erase(user_id=user.pk)
        if user.email:
            addressed = Invitation.objects.filter(email__iexact=user.email)
            addressed.filter(status=InvitationStatus.PENDING).update(
                status=InvitationStatus.REVOKED, revoked_at=now
            )
            addressed.update(
                email=Concat(
                    Value("erased-invitation-"), Cast("id", CharField()), Value("@invalid")
                )
            )
        Invitation.objects.filter(invited_by=user).update(invited_by=None)
        Invitation.objects.filter(accepted_by=user).update(accepted_by=None)
        user.username = f"erased-user-{user.pk}"
        user.email = ""
        user.first_name = ""
        user.last_name = ""
        user.is_active = False
        user.is_staff = False
        user.is_superuser = False
        user.set_unusable_password()
        user.save()
