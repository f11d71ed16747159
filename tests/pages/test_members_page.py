"""The members page: seat bar, invitations, removals and roles, through the real
services. Every POST redirects on success; every refusal is shown and changes nothing."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from organizations.models import Invitation, InvitationStatus, Membership, Role
from organizations.services import invitation_create, membership_remove
from seats.models import SeatUsageEvent


def _members(org):
    return reverse("members", args=[org.slug])


def test_seat_bar_counts_members_and_pending_invitations(owner_client, org, owner, member):
    invitation_create(organization=org, email="new@acme.test", actor=owner)
    page = owner_client.get(_members(org)).content.decode()
    assert "3 of 5 seats used" in page
    assert "2 members, 1 pending invitation" in page
    assert "new@acme.test" in page


def test_invite_sends_an_email_with_a_working_link_and_redirects(owner_client, org, client):
    response = owner_client.post(
        reverse("invite", args=[org.slug]), {"email": "New@Acme.test", "role": "member"}
    )
    assert response.status_code == 302
    assert response["Location"] == _members(org)
    invitation = Invitation.objects.get(organization=org)
    assert invitation.email == "new@acme.test"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new@acme.test"]
    link = re.search(r"http://testserver(/invitations/\S+/)", mail.outbox[0].body).group(1)
    assert "Join Acme" in client.get(link).content.decode()


def test_invite_refused_when_no_seats_free_shows_the_reason_and_a_link_to_add_seats(
    owner_client, org, owner
):
    for i in range(4):  # the trial cap is 5 and the owner holds one
        invitation_create(organization=org, email=f"p{i}@acme.test", actor=owner)
    response = owner_client.post(reverse("invite", args=[org.slug]), {"email": "sixth@acme.test"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "No seats are free: 5 of 5 seats are in use." in page
    assert reverse("subscription", args=[org.slug]) + "#seats" in page
    assert not Invitation.objects.filter(email="sixth@acme.test").exists()
    assert mail.outbox == []


@pytest.mark.parametrize("email", ["", "not-an-email", "a@b", "x" * 300 + "@acme.test"])
def test_invite_with_a_bad_email_shows_an_error_and_creates_nothing(owner_client, org, email):
    response = owner_client.post(reverse("invite", args=[org.slug]), {"email": email})
    assert response.status_code == 400
    assert 'class="error"' in response.content.decode()
    assert Invitation.objects.count() == 0


def test_billing_manager_cannot_invite_an_owner(billing_manager_client, org):
    response = billing_manager_client.post(
        reverse("invite", args=[org.slug]), {"email": "boss@acme.test", "role": Role.OWNER}
    )
    assert response.status_code == 400
    assert Invitation.objects.count() == 0


def test_member_cannot_invite(member_client, org):
    response = member_client.post(reverse("invite", args=[org.slug]), {"email": "x@acme.test"})
    assert response.status_code == 403
    assert "Only owners and billing managers can manage members." in response.content.decode()
    assert Invitation.objects.count() == 0


def test_duplicate_invitation_is_refused_with_the_services_message(owner_client, org, owner):
    invitation_create(organization=org, email="dup@acme.test", actor=owner)
    response = owner_client.post(reverse("invite", args=[org.slug]), {"email": "dup@acme.test"})
    assert "already has a pending invitation. Resend it instead." in response.content.decode()
    assert Invitation.objects.filter(email="dup@acme.test").count() == 1


def test_resend_rotates_the_token_and_emails_again(owner_client, org, owner):
    invitation, _ = invitation_create(organization=org, email="again@acme.test", actor=owner)
    old_hash = invitation.token_hash
    response = owner_client.post(reverse("invitation-resend", args=[org.slug, invitation.pk]))
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.token_hash != old_hash
    assert mail.outbox[0].to == ["again@acme.test"]


def test_revoke_frees_the_seat(owner_client, org, owner):
    invitation, _ = invitation_create(organization=org, email="gone@acme.test", actor=owner)
    response = owner_client.post(reverse("invitation-revoke", args=[org.slug, invitation.pk]))
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.REVOKED
    page = owner_client.get(_members(org)).content.decode()
    assert "1 of 5 seats used" in page
    assert "revoked; its seat is free" in page


def test_revoking_twice_shows_the_refusal(owner_client, org, owner):
    invitation, _ = invitation_create(organization=org, email="gone@acme.test", actor=owner)
    url = reverse("invitation-revoke", args=[org.slug, invitation.pk])
    owner_client.post(url)
    page = owner_client.post(url, follow=True).content.decode()
    assert "This invitation was already revoked." in page


def test_another_orgs_invitation_is_404(owner_client, org, other_org, outsider):
    theirs, _ = invitation_create(organization=other_org, email="x@else.test", actor=outsider)
    response = owner_client.post(reverse("invitation-revoke", args=[org.slug, theirs.pk]))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == InvitationStatus.PENDING


def test_owner_removes_a_member_and_the_tombstone_is_listed(owner_client, org, member):
    target = Membership.objects.get(organization=org, user=member)
    response = owner_client.post(reverse("member-remove", args=[org.slug, target.pk]))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=target.pk).exists()
    page = owner_client.get(_members(org)).content.decode()
    assert 'data-testid="removals"' in page
    assert "member@acme.test" in page and "Removed" in page


def test_billing_manager_removes_a_member_but_not_the_owner(
    billing_manager_client, org, owner, member
):
    target = Membership.objects.get(organization=org, user=member)
    assert (
        billing_manager_client.post(
            reverse("member-remove", args=[org.slug, target.pk])
        ).status_code
        == 302
    )
    assert not Membership.objects.filter(pk=target.pk).exists()

    owners = Membership.objects.get(organization=org, user=owner)
    page = billing_manager_client.post(
        reverse("member-remove", args=[org.slug, owners.pk]), follow=True
    ).content.decode()
    assert "Only owners can manage owners and billing managers." in page
    assert Membership.objects.filter(pk=owners.pk).exists()


def test_only_owners_change_roles(owner_client, billing_manager_client, org, member):
    target = Membership.objects.get(organization=org, user=member)
    url = reverse("member-role", args=[org.slug, target.pk])
    page = billing_manager_client.post(url, {"role": "owner"}, follow=True).content.decode()
    assert "Only owners can do this." in page
    target.refresh_from_db()
    assert target.role == Role.MEMBER

    assert owner_client.post(url, {"role": "billing_manager"}).status_code == 302
    target.refresh_from_db()
    assert target.role == Role.BILLING_MANAGER


def test_unknown_role_is_refused(owner_client, org, member):
    target = Membership.objects.get(organization=org, user=member)
    page = owner_client.post(
        reverse("member-role", args=[org.slug, target.pk]), {"role": "emperor"}, follow=True
    ).content.decode()
    assert "Choose a role" in page
    target.refresh_from_db()
    assert target.role == Role.MEMBER


def test_last_owner_cannot_step_down_or_leave(owner_client, org, owner):
    own = Membership.objects.get(organization=org, user=owner)
    page = owner_client.post(
        reverse("member-role", args=[org.slug, own.pk]), {"role": "member"}, follow=True
    ).content.decode()
    assert "is the last owner of Acme" in page
    page = owner_client.post(reverse("leave", args=[org.slug]), follow=True).content.decode()
    assert "You are the last owner of Acme" in page
    own.refresh_from_db()
    assert own.role == Role.OWNER


def test_member_leaves_and_lands_on_the_picker(member_client, org, member):
    response = member_client.post(reverse("leave", args=[org.slug]))
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert not Membership.objects.filter(organization=org, user=member).exists()
    assert SeatUsageEvent.objects.filter(organization=org).order_by("-id").first().delta == -1
    assert member_client.get(_members(org)).status_code == 404


def test_expired_invitations_are_marked(owner_client, org, owner):
    invitation_create(
        organization=org,
        email="late@acme.test",
        actor=owner,
        now=timezone.now() - timedelta(days=30),
    )
    page = owner_client.get(_members(org)).content.decode()
    assert "late@acme.test" in page and "expired" in page
    assert "1 of 5 seats used" in page  # an expired invitation reserves nothing


def test_removal_history_hidden_from_members(member_client, org, owner, billing_manager):
    membership_remove(
        membership=Membership.objects.get(organization=org, user=billing_manager), actor=owner
    )
    page = member_client.get(_members(org)).content.decode()
    assert 'data-testid="removals"' not in page
    assert "billing@acme.test" not in page
