"""organizations.services: invitations, roles, removal, erasure, deletion, and bad input
that must be refused with a clear message and change nothing."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils import timezone

from organizations.exceptions import InvitationInvalid, NotAllowed
from organizations.models import (
    Invitation,
    InvitationStatus,
    Membership,
    MembershipRemoval,
    Organization,
    OrganizationDomain,
    RemovalReason,
    Role,
    invitation_token_hash,
)
from organizations.services import (
    invitation_accept,
    invitation_create,
    invitation_resend,
    invitation_revoke,
    membership_add_direct,
    membership_add_staff,
    membership_join_by_domain,
    membership_leave,
    membership_remove,
    membership_role_change,
    organization_create,
    organization_delete,
    organization_domain_add,
    organization_domain_verify,
    organization_ownership_transfer,
    user_erase,
)
from seats.models import SeatUsageEvent
from tests.factories import UserFactory


def row_counts():
    """Every table this app and the ledger own, to prove a refusal changed nothing."""
    models = ["Organization", "Membership", "Invitation", "MembershipRemoval"]
    counts = {name: apps.get_model("organizations", name).objects.count() for name in models}
    counts["SeatUsageEvent"] = SeatUsageEvent.objects.count()
    counts["pending"] = Invitation.objects.filter(status=InvitationStatus.PENDING).count()
    counts["roles"] = sorted(Membership.objects.values_list("user_id", "role"))
    return counts


def membership_of(user, org=None):
    qs = Membership.objects.filter(user=user)
    return qs.get(organization=org) if org else qs.get()


# --- Creating an organization -----------------------------------------------------------


def test_creator_becomes_the_owner_of_a_trial_org(owner):
    now = timezone.now()
    org = organization_create(name="  Beta Labs ", creator=owner, now=now)
    assert (org.name, org.slug, org.email) == ("Beta Labs", "beta-labs", "owner@acme.test")
    assert org.trial_ends_at == now + timedelta(days=14)
    membership = membership_of(owner, org)
    assert (membership.role, membership.joined_via) == (Role.OWNER, "creator")


def test_second_org_with_the_same_name_gets_its_own_slug(owner, org):
    again = organization_create(name="Acme", creator=owner)
    assert again.slug != org.slug and again.slug.startswith("acme-")


@pytest.mark.parametrize("name", ["", "   ", None, "x" * 201])
def test_create_refuses_a_missing_or_overlong_name(owner, name):
    before = row_counts()
    with pytest.raises(ValidationError):
        organization_create(name=name, creator=owner)
    assert row_counts() == before


# --- Invitations ------------------------------------------------------------------------


def test_invitation_stores_only_the_token_hash(org, owner):
    invitation, token = invitation_create(organization=org, email=" New@Acme.TEST ", actor=owner)
    assert invitation.email == "new@acme.test"
    assert invitation.token_hash == invitation_token_hash(token)
    assert token not in invitation.token_hash
    assert invitation.expires_at == invitation.created_at + timedelta(days=7)


def test_accept_makes_a_member_with_the_invited_role(org, owner):
    _, token = invitation_create(
        organization=org, email="bm@acme.test", role=Role.BILLING_MANAGER, actor=owner
    )
    user = UserFactory(email="BM@acme.test")
    membership = invitation_accept(token=token, user=user)
    assert (membership.role, membership.joined_via) == (Role.BILLING_MANAGER, "invitation")
    invitation = Invitation.objects.get(email="bm@acme.test")
    assert (invitation.status, invitation.accepted_by) == (InvitationStatus.ACCEPTED, user)


def test_resend_rotates_the_token_and_extends_expiry(org, owner):
    now = timezone.now()
    invitation, old = invitation_create(
        organization=org, email="n@acme.test", actor=owner, now=now - timedelta(days=5)
    )
    invitation, new = invitation_resend(invitation=invitation, actor=owner, now=now)
    assert new != old
    assert invitation.expires_at == now + timedelta(days=7)
    with pytest.raises(InvitationInvalid, match="not valid"):
        invitation_accept(token=old, user=UserFactory(email="n@acme.test"))
    membership = invitation_accept(token=new, user=UserFactory(email="n@acme.test"))
    assert membership.organization == org


@pytest.mark.parametrize(
    ("make_bad", "message"),
    [
        ("revoked", "was revoked"),
        ("accepted", "already been used"),
        ("expired", "expired on"),
        ("wrong_email", "different email address"),
        ("unknown", "not valid"),
    ],
)
def test_accept_refuses_unusable_tokens_and_changes_nothing(org, owner, make_bad, message):
    now = timezone.now()
    created_at = now - timedelta(days=8) if make_bad == "expired" else now
    invitation, token = invitation_create(
        organization=org, email="inv@acme.test", actor=owner, now=created_at
    )
    invitee = UserFactory(email="inv@acme.test")
    if make_bad == "revoked":
        invitation_revoke(invitation=invitation, actor=owner)
    elif make_bad == "accepted":
        invitation_accept(token=token, user=invitee)
        invitee = UserFactory(email="INV@acme.test", username="second")
    elif make_bad == "wrong_email":
        invitee = UserFactory(email="someone.else@acme.test")
    elif make_bad == "unknown":
        token = token[:-2] + "xx"
    before = row_counts()
    with pytest.raises(InvitationInvalid, match=message):
        invitation_accept(token=token, user=invitee, now=now)
    assert row_counts() == before


@pytest.mark.parametrize("token", ["", None, 12345])
def test_accept_refuses_a_missing_or_non_text_token(org, member, token):
    with pytest.raises(InvitationInvalid, match="not valid"):
        invitation_accept(token=token, user=member)


def test_accept_refuses_someone_already_in_the_org(org, owner, member):
    # The address was free when invited; the same person joined another way meanwhile.
    _, token = invitation_create(organization=org, email="mia2@acme.test", actor=owner)
    member.email = "mia2@acme.test"
    member.save()
    before = row_counts()
    with pytest.raises(ValidationError, match="already a member"):
        invitation_accept(token=token, user=member)
    assert row_counts() == before


def test_duplicate_pending_invitation_is_refused(org, owner):
    invitation_create(organization=org, email="dup@acme.test", actor=owner)
    before = row_counts()
    with pytest.raises(ValidationError, match="already has a pending invitation"):
        invitation_create(organization=org, email="DUP@acme.test", actor=owner)
    assert row_counts() == before


def test_reinviting_after_expiry_replaces_the_expired_invitation(org, owner):
    now = timezone.now()
    old, _ = invitation_create(
        organization=org, email="late@acme.test", actor=owner, now=now - timedelta(days=10)
    )
    new, _ = invitation_create(organization=org, email="late@acme.test", actor=owner, now=now)
    old.refresh_from_db()
    assert (old.status, new.status) == (InvitationStatus.REVOKED, InvitationStatus.PENDING)


def test_inviting_a_current_member_is_refused(org, owner, member):
    before = row_counts()
    with pytest.raises(ValidationError, match="already a member"):
        invitation_create(organization=org, email="Member@acme.test", actor=owner)
    assert row_counts() == before


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "@acme.test", "", None, "x y@acme.test"])
def test_invite_refuses_malformed_emails(org, owner, email):
    before = row_counts()
    with pytest.raises(ValidationError, match="email"):
        invitation_create(organization=org, email=email, actor=owner)
    assert row_counts() == before


@pytest.mark.parametrize("role", ["admin", "OWNER", "", None, 3])
def test_invite_refuses_unknown_roles(org, owner, role):
    before = row_counts()
    with pytest.raises(ValidationError, match="Unknown role"):
        invitation_create(organization=org, email="r@acme.test", role=role, actor=owner)
    assert row_counts() == before


def test_member_may_not_invite(org, member):
    before = row_counts()
    with pytest.raises(NotAllowed, match="Only owners and billing managers"):
        invitation_create(organization=org, email="x@acme.test", actor=member)
    assert row_counts() == before


def test_billing_manager_invites_members_but_not_owners(org, billing_manager):
    invitation_create(organization=org, email="m@acme.test", actor=billing_manager)
    with pytest.raises(NotAllowed, match="Only owners can manage owners"):
        invitation_create(
            organization=org, email="o@acme.test", role=Role.OWNER, actor=billing_manager
        )


def test_outsider_cannot_touch_another_orgs_invitations(org, owner, outsider, other_org):
    invitation, _ = invitation_create(organization=org, email="x@acme.test", actor=owner)
    before = row_counts()
    with pytest.raises(NotAllowed, match="not a member of Acme"):
        invitation_revoke(invitation=invitation, actor=outsider)
    with pytest.raises(NotAllowed, match="not a member of Acme"):
        invitation_resend(invitation=invitation, actor=outsider)
    with pytest.raises(NotAllowed, match="not a member of Acme"):
        invitation_create(organization=org, email="y@acme.test", actor=outsider)
    assert row_counts() == before


def test_revoking_twice_is_refused(org, owner):
    invitation, _ = invitation_create(organization=org, email="x@acme.test", actor=owner)
    invitation_revoke(invitation=invitation, actor=owner)
    with pytest.raises(ValidationError, match="already revoked"):
        invitation_revoke(invitation=invitation, actor=owner)


# --- Direct adds and domains ----------------------------------------------------------


def test_joining_twice_is_refused(org, owner, member):
    before = row_counts()
    with pytest.raises(ValidationError, match="already a member of Acme"):
        membership_add_direct(organization=org, user=member, actor=owner)
    assert row_counts() == before


def test_only_staff_may_use_the_staff_add(org, owner):
    with pytest.raises(NotAllowed, match="Only staff"):
        membership_add_staff(organization=org, user=UserFactory(), actor=owner)


def test_outsider_cannot_add_members_to_another_org(org, outsider):
    before = row_counts()
    with pytest.raises(NotAllowed):
        membership_add_direct(organization=org, user=UserFactory(), actor=outsider)
    assert row_counts() == before


def test_domain_join_requires_the_verified_address_to_be_the_users(org, owner, staff):
    domain = organization_domain_add(organization=org, domain="@Acme.Test", actor=owner)
    assert domain.domain == "acme.test"
    organization_domain_verify(domain=domain, actor=staff)
    user = UserFactory(email="real@elsewhere.test")
    with pytest.raises(ValidationError, match="not this user's email"):
        membership_join_by_domain(user=user, verified_email="fake@acme.test")


@pytest.mark.parametrize("domain", ["", "acme", "-acme.test", "acme..test", None, "a b.test"])
def test_domain_add_refuses_malformed_domains(org, owner, domain):
    with pytest.raises(ValidationError, match="domain"):
        organization_domain_add(organization=org, domain=domain, actor=owner)
    assert not OrganizationDomain.objects.exists()


def test_a_domain_is_verified_for_one_org_only(org, owner, other_org, outsider, staff):
    mine = organization_domain_add(organization=org, domain="shared.test", actor=owner)
    theirs = organization_domain_add(organization=other_org, domain="shared.test", actor=outsider)
    organization_domain_verify(domain=mine, actor=staff)
    with pytest.raises(ValidationError, match="already verified for another"):
        organization_domain_verify(domain=theirs, actor=staff)


# --- Removing, leaving, roles ----------------------------------------------------------


def test_remove_writes_a_tombstone(org, owner, member):
    now = timezone.now()
    membership = membership_of(member)
    tombstone = membership_remove(membership=membership, actor=owner, now=now)
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert (tombstone.user, tombstone.email, tombstone.previous_role) == (
        member,
        "member@acme.test",
        Role.MEMBER,
    )
    assert (tombstone.removed_by, tombstone.removed_at, tombstone.reason) == (
        owner,
        now,
        RemovalReason.REMOVED,
    )
    assert tombstone.membership_id == membership.pk


def test_removing_the_last_owner_is_refused(org, owner, staff):
    before = row_counts()
    with pytest.raises(ValidationError, match="last owner of Acme"):
        membership_remove(membership=membership_of(owner), actor=staff)
    assert row_counts() == before


def test_last_owner_cannot_leave(org, owner):
    with pytest.raises(ValidationError, match="You are the last owner of Acme"):
        membership_leave(membership=membership_of(owner), actor=owner)


def test_demoting_the_last_owner_is_refused(org, owner):
    before = row_counts()
    with pytest.raises(ValidationError, match="last owner"):
        membership_role_change(membership=membership_of(owner), role=Role.MEMBER, actor=owner)
    assert row_counts() == before


def test_member_cannot_remove_anyone(org, member, billing_manager):
    before = row_counts()
    with pytest.raises(NotAllowed):
        membership_remove(membership=membership_of(billing_manager), actor=member)
    assert row_counts() == before


def test_billing_manager_removes_members_but_not_owners(org, owner, billing_manager, member):
    with pytest.raises(NotAllowed, match="Only owners can manage owners"):
        membership_remove(membership=membership_of(owner), actor=billing_manager)
    membership_remove(membership=membership_of(member), actor=billing_manager)
    assert not Membership.objects.filter(user=member).exists()


def test_removing_yourself_points_to_leave(org, billing_manager):
    with pytest.raises(ValidationError, match="leave the organization instead"):
        membership_remove(membership=membership_of(billing_manager), actor=billing_manager)


def test_someone_else_cannot_leave_for_a_member(org, owner, member):
    with pytest.raises(NotAllowed, match="Only the member themselves"):
        membership_leave(membership=membership_of(member), actor=owner)


def test_outsider_cannot_remove_from_another_org(org, member, outsider):
    before = row_counts()
    with pytest.raises(NotAllowed, match="not a member of Acme"):
        membership_remove(membership=membership_of(member), actor=outsider)
    assert row_counts() == before


def test_only_owners_change_roles(org, billing_manager, member):
    with pytest.raises(NotAllowed, match="Only owners"):
        membership_role_change(
            membership=membership_of(member), role=Role.OWNER, actor=billing_manager
        )
    assert membership_of(member).role == Role.MEMBER


def test_role_change_refuses_unknown_roles(org, owner, member):
    with pytest.raises(ValidationError, match="Unknown role 'superuser'"):
        membership_role_change(membership=membership_of(member), role="superuser", actor=owner)
    assert membership_of(member).role == Role.MEMBER


def test_second_owner_lets_the_first_step_down(org, owner, member):
    membership_role_change(membership=membership_of(member), role=Role.OWNER, actor=owner)
    membership_role_change(membership=membership_of(owner), role=Role.MEMBER, actor=owner)
    assert membership_of(owner).role == Role.MEMBER


def test_transfer_ownership_steps_the_old_owner_down(org, owner, member):
    organization_ownership_transfer(organization=org, new_owner=member, actor=owner)
    assert membership_of(member).role == Role.OWNER
    assert membership_of(owner).role == Role.BILLING_MANAGER


def test_transfer_to_a_non_member_is_refused(org, owner, outsider):
    before = row_counts()
    with pytest.raises(ValidationError, match="not a member of Acme"):
        organization_ownership_transfer(organization=org, new_owner=outsider, actor=owner)
    assert row_counts() == before


def test_transfer_by_a_non_owner_is_refused(org, billing_manager, member):
    with pytest.raises(NotAllowed, match="Only owners"):
        organization_ownership_transfer(organization=org, new_owner=member, actor=billing_manager)


# --- GDPR erasure -------------------------------------------------------------------------


def test_erase_anonymizes_tombstones_and_ledger_but_keeps_counts(org, owner, member, staff):
    _, token = invitation_create(organization=org, email="pat@acme.test", actor=owner)
    pat = UserFactory(email="pat@acme.test", first_name="Pat")
    invitation_accept(token=token, user=pat)
    membership_leave(membership=membership_of(pat), actor=pat)  # an older tombstone
    membership_add_direct(organization=org, user=pat, actor=owner)
    counts_before = list(SeatUsageEvent.objects.order_by("id").values_list("count", "delta"))

    user_erase(user=pat, actor=staff)

    pat.refresh_from_db()
    assert (pat.email, pat.first_name, pat.is_active) == ("", "", False)
    assert pat.username == f"erased-user-{pat.pk}" and not pat.has_usable_password()
    tombstones = MembershipRemoval.objects.filter(organization=org, previous_role=Role.MEMBER)
    pats = [t for t in tombstones if t.email.startswith("erased-user-")]
    assert {t.reason for t in pats} == {RemovalReason.LEFT, RemovalReason.ERASED}
    assert all(t.email == f"erased-user-{t.pk}@invalid" and t.user is None for t in pats)
    assert not SeatUsageEvent.objects.filter(actor=pat).exists()
    assert not Invitation.objects.filter(email__icontains="pat@").exists()
    after = list(SeatUsageEvent.objects.order_by("id").values_list("count", "delta"))
    assert after[: len(counts_before)] == counts_before  # history intact
    assert after[-1] == (2, -1)  # owner and member remain


def test_erase_twice_changes_nothing_the_second_time(org, member, staff):
    user_erase(user=member, actor=staff)
    before = row_counts()
    user_erase(user=member, actor=staff)
    assert row_counts() == before


def test_erase_refused_for_the_last_owner(org, owner, staff):
    before = row_counts()
    with pytest.raises(ValidationError, match="last owner of Acme"):
        user_erase(user=owner, actor=staff)
    assert row_counts() == before
    owner.refresh_from_db()
    assert owner.email == "owner@acme.test"


def test_only_staff_or_the_person_may_erase(org, owner, member):
    with pytest.raises(NotAllowed):
        user_erase(user=member, actor=owner)
    user_erase(user=member, actor=member)
    assert not Membership.objects.filter(user=member).exists()


# --- Deleting an organization ---------------------------------------------------------------


def test_delete_is_soft_and_empties_the_org(org, owner, member):
    invitation, token = invitation_create(organization=org, email="p@acme.test", actor=owner)
    now = timezone.now()
    organization_delete(organization=org, actor=owner, now=now)
    org.refresh_from_db()
    assert org.deleted_at == now
    assert not Membership.objects.filter(organization=org).exists()
    assert MembershipRemoval.objects.filter(organization=org, reason="org_deleted").count() == 2
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.REVOKED
    assert Organization.objects.active().filter(pk=org.pk).exists() is False
    with pytest.raises(InvitationInvalid, match="revoked"):
        invitation_accept(token=token, user=UserFactory(email="p@acme.test"))


def test_deleted_org_refuses_further_changes(org, owner, staff):
    organization_delete(organization=org, actor=owner)
    before = row_counts()
    with pytest.raises(ValidationError, match="Acme has been deleted"):
        membership_add_staff(organization=org, user=UserFactory(), actor=staff)
    with pytest.raises(ValidationError, match="has been deleted"):
        organization_delete(organization=org, actor=staff)
    assert row_counts() == before


def test_only_owners_delete_an_org(org, billing_manager, outsider):
    before = row_counts()
    for actor in (billing_manager, outsider):
        with pytest.raises(NotAllowed):
            organization_delete(organization=org, actor=actor)
    assert row_counts() == before
