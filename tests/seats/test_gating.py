"""Seat vocabulary and gating: used = members + pending invitations, never above the
cap; refusals say how many seats are free and what to do (SCENARIOS 13)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from organizations.models import Invitation, Membership
from organizations.services import (
    invitation_accept,
    invitation_create,
    invitation_resend,
    invitation_revoke,
    membership_add_direct,
    membership_join_by_domain,
    organization_domain_add,
    organization_domain_verify,
)
from seats.exceptions import SeatLimitReached
from seats.selectors import seat_summary, seats_at_renewal, seats_purchased, seats_used
from seats.services import seats_check_room
from tests.factories import UserFactory


def fill(org, owner, *, members=0, invites=0):
    for _ in range(members):
        membership_add_direct(organization=org, user=UserFactory(), actor=owner)
    for i in range(invites):
        invitation_create(organization=org, email=f"invitee{i}@acme.test", actor=owner)


def test_used_counts_members_and_pending_invitations(org, owner, member):
    fill(org, owner, invites=1)
    summary = seat_summary(organization=org)
    assert (summary.members, summary.pending_invites, summary.used) == (2, 1, 3)
    assert seats_used(organization=org) == 3


def test_used_ignores_expired_revoked_and_accepted_invitations(org, owner):
    now = timezone.now()
    invitation_create(
        organization=org, email="old@acme.test", actor=owner, now=now - timedelta(days=30)
    )
    revoked, _ = invitation_create(organization=org, email="gone@acme.test", actor=owner)
    invitation_revoke(invitation=revoked, actor=owner)
    _, token = invitation_create(organization=org, email="took@acme.test", actor=owner)
    invitation_accept(token=token, user=UserFactory(email="took@acme.test"))
    assert seat_summary(organization=org, now=now).pending_invites == 0
    assert seats_used(organization=org, now=now) == 2


def test_purchased_is_the_trial_cap_without_a_subscription(org, settings):
    settings.SEATWISE_TRIAL_SEATS = 4
    assert seats_purchased(organization=org) == 4
    org.seats_purchased = 12
    assert seats_purchased(organization=org) == 12
    assert seats_at_renewal(organization=org) == 12
    org.seats_at_renewal = 7
    assert seats_at_renewal(organization=org) == 7
    summary = seat_summary(organization=org)
    assert (summary.purchased, summary.at_renewal, summary.cap, summary.free) == (12, 7, 7, 6)


def test_invite_refused_when_no_seats_free(org, owner):
    fill(org, owner, members=2, invites=2)  # 5 of the 5 trial seats
    with pytest.raises(SeatLimitReached) as refused:
        invitation_create(organization=org, email="sixth@acme.test", actor=owner)
    assert refused.value.message == (
        "No seats are free: 5 of 5 seats are in use. Add seats on the subscription page, "
        "or remove a member or a pending invitation."
    )
    assert Invitation.objects.filter(organization=org).count() == 2


def test_every_join_path_is_refused_when_no_seats_free(org, owner, staff):
    from organizations.services import membership_add_staff

    fill(org, owner, members=4)
    domain = organization_domain_add(organization=org, domain="acme.test", actor=owner)
    organization_domain_verify(domain=domain, actor=staff)
    members_before = Membership.objects.count()
    with pytest.raises(SeatLimitReached):
        membership_add_direct(organization=org, user=UserFactory(), actor=owner)
    with pytest.raises(SeatLimitReached):
        membership_add_staff(organization=org, user=UserFactory(), actor=staff)
    with pytest.raises(SeatLimitReached):
        membership_join_by_domain(
            user=UserFactory(email="late@acme.test"), verified_email="late@acme.test"
        )
    assert Membership.objects.count() == members_before


def test_accepting_uses_the_invitations_own_reserved_seat(org, owner):
    fill(org, owner, members=3)
    _, token = invitation_create(organization=org, email="last@acme.test", actor=owner)
    assert seat_summary(organization=org).free == 0
    invitation_accept(token=token, user=UserFactory(email="last@acme.test"))
    assert seat_summary(organization=org).members == 5


def test_join_refused_while_pending_decrease_is_the_cap(org, owner):
    """SCENARIOS 13: 5 purchased, 3 at renewal, 3 in use: a fourth cannot join."""
    org.seats_purchased, org.seats_at_renewal = 5, 3
    org.save(update_fields=["seats_purchased", "seats_at_renewal"])
    fill(org, owner, members=2)
    with pytest.raises(SeatLimitReached) as refused:
        membership_add_direct(organization=org, user=UserFactory(), actor=owner)
    assert refused.value.message == (
        "No seats are free: your plan drops to 3 seats at renewal and 3 are in use. "
        "Raise or cancel the pending decrease to add members."
    )
    org.seats_at_renewal = None  # the decrease is cancelled
    org.save(update_fields=["seats_at_renewal"])
    membership_add_direct(organization=org, user=UserFactory(), actor=owner)
    assert seat_summary(organization=org).members == 4


def test_check_room_for_several_seats_names_the_free_ones(org, owner):
    fill(org, owner, members=2)
    with pytest.raises(SeatLimitReached) as refused:
        seats_check_room(organization=org, extra=4)
    assert refused.value.message.startswith("Only 2 seats free (3 of 5 in use) and 4 are needed.")


def test_invite_refused_after_trial_ended(org, owner):
    later = org.trial_ends_at + timedelta(minutes=1)
    with pytest.raises(SeatLimitReached, match=r"The trial ended on .*\. Choose a plan"):
        invitation_create(organization=org, email="a@acme.test", actor=owner, now=later)
    assert not Invitation.objects.filter(organization=org).exists()


def test_paid_org_is_not_blocked_by_an_old_trial_end(org, owner):
    org.seats_purchased = 10
    org.save(update_fields=["seats_purchased"])
    later = org.trial_ends_at + timedelta(days=60)
    invitation_create(organization=org, email="a@acme.test", actor=owner, now=later)


def test_resending_an_expired_invitation_needs_a_free_seat(org, owner):
    now = timezone.now()
    expired, _ = invitation_create(
        organization=org, email="old@acme.test", actor=owner, now=now - timedelta(days=30)
    )
    fill(org, owner, members=4)
    with pytest.raises(SeatLimitReached):
        invitation_resend(invitation=expired, actor=owner, now=now)
    expired.refresh_from_db()
    assert expired.expires_at < now


@pytest.mark.parametrize("extra", [-1, "2", 1.5, None, True])
def test_check_room_rejects_negative_or_non_numeric_extra(org, extra):
    with pytest.raises(ValueError, match="whole number of seats"):
        seats_check_room(organization=org, extra=extra)
