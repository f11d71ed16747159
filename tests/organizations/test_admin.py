"""Staff admin: list pages run a constant number of queries, the ledger and tombstones
cannot be changed, and staff actions go through the services."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from organizations.models import Invitation, InvitationStatus, Membership, Organization
from organizations.services import invitation_create, membership_add_staff, organization_create
from seats.models import Cause, SeatUsageEvent
from tests.factories import UserFactory

CHANGELISTS = [
    "admin:organizations_organization_changelist",
    "admin:organizations_membership_changelist",
    "admin:organizations_invitation_changelist",
    "admin:organizations_membershipremoval_changelist",
    "admin:organizations_organizationdomain_changelist",
    "admin:seats_seatusageevent_changelist",
]


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def make_orgs(n, *, staff):
    """n organizations, each with two members, an invitation, a removal and a domain."""
    from organizations.models import OrganizationDomain
    from organizations.services import membership_remove

    for _ in range(n):
        owner = UserFactory()
        org = organization_create(name=f"Org {owner.pk}", creator=owner)
        leaver = UserFactory()
        membership = membership_add_staff(organization=org, user=leaver, actor=staff)
        membership_remove(membership=membership, actor=staff)
        membership_add_staff(organization=org, user=UserFactory(), actor=staff)
        invitation_create(organization=org, email=f"i{owner.pk}@x.test", actor=owner)
        OrganizationDomain.objects.create(
            organization=org, domain=f"d{owner.pk}.test", created_at=org.created_at
        )


def queries_for(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("name", CHANGELISTS)
def test_changelist_query_count_does_not_grow_with_rows(staff_client, staff, name):
    url = reverse(name)
    make_orgs(3, staff=staff)
    few = queries_for(staff_client, url)
    make_orgs(27, staff=staff)
    many = queries_for(staff_client, url)
    assert few == many


def test_organization_list_shows_annotated_seat_counts(staff_client, org, member, owner):
    invitation_create(organization=org, email="p@acme.test", actor=owner)
    response = staff_client.get(reverse("admin:organizations_organization_changelist"))
    row = next(r for r in response.context["cl"].result_list if r.pk == org.pk)
    assert (row.member_count, row.pending_count) == (2, 1)
    assert b"5 (trial)" in response.content


def test_ledger_and_tombstones_offer_no_add_change_or_delete(staff_client, org):
    event = SeatUsageEvent.objects.filter(organization=org).first()
    assert staff_client.get(reverse("admin:seats_seatusageevent_add")).status_code == 403
    assert (
        staff_client.get(reverse("admin:seats_seatusageevent_delete", args=[event.pk])).status_code
        == 403
    )
    response = staff_client.post(
        reverse("admin:seats_seatusageevent_change", args=[event.pk]), {"count": 99}
    )
    assert response.status_code == 403
    assert SeatUsageEvent.objects.get(pk=event.pk).count == 1
    assert staff_client.get(reverse("admin:organizations_membershipremoval_add")).status_code == 403


def test_staff_add_member_form_joins_through_the_service(staff_client, org, staff):
    user = UserFactory(email="new@acme.test")
    url = reverse("admin:organizations_organization_add_member", args=[org.pk])
    response = staff_client.post(url, {"email": "NEW@acme.test", "role": "member"})
    assert response.status_code == 302
    membership = Membership.objects.get(organization=org, user=user)
    assert membership.joined_via == "staff"
    last = SeatUsageEvent.objects.filter(organization=org).order_by("id").last()
    assert (last.count, last.delta, last.cause, last.actor) == (2, 1, Cause.JOINED, staff)


def test_staff_add_member_form_shows_the_seat_refusal(staff_client, org, owner, staff):
    for _ in range(4):
        membership_add_staff(organization=org, user=UserFactory(), actor=staff)
    UserFactory(email="sixth@acme.test")
    url = reverse("admin:organizations_organization_add_member", args=[org.pk])
    before = Membership.objects.count()
    response = staff_client.post(url, {"email": "sixth@acme.test", "role": "member"})
    assert response.status_code == 200
    assert "No seats are free: 5 of 5 seats are in use." in response.content.decode()
    assert Membership.objects.count() == before


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"email": "nobody@acme.test", "role": "member"}, "No active user"),
        ({"email": "not-an-email", "role": "member"}, "Enter a valid email address"),
        ({"email": "x@acme.test", "role": "emperor"}, "Select a valid choice"),
    ],
)
def test_staff_add_member_form_rejects_bad_input(staff_client, org, data, error):
    UserFactory(email="x@acme.test")
    before = Membership.objects.count()
    url = reverse("admin:organizations_organization_add_member", args=[org.pk])
    response = staff_client.post(url, data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert Membership.objects.count() == before


def test_remove_action_writes_tombstone_and_refuses_the_last_owner(staff_client, org, member):
    url = reverse("admin:organizations_membership_changelist")
    ids = list(Membership.objects.filter(organization=org).values_list("pk", flat=True))
    response = staff_client.post(
        url, {"action": "remove_members", "_selected_action": ids}, follow=True
    )
    assert "is the last owner of Acme" in response.content.decode()
    assert list(Membership.objects.filter(organization=org).values_list("role", flat=True)) == [
        "owner"
    ]
    assert org.removals.get().reason == "removed"


def test_revoke_and_delete_actions_call_the_services(staff_client, org, owner):
    invitation, _ = invitation_create(organization=org, email="p@acme.test", actor=owner)
    staff_client.post(
        reverse("admin:organizations_invitation_changelist"),
        {"action": "revoke_invitations", "_selected_action": [invitation.pk]},
    )
    assert Invitation.objects.get(pk=invitation.pk).status == InvitationStatus.REVOKED
    staff_client.post(
        reverse("admin:organizations_organization_changelist"),
        {"action": "delete_organizations", "_selected_action": [org.pk]},
    )
    assert Organization.objects.get(pk=org.pk).deleted_at is not None
    assert SeatUsageEvent.objects.filter(organization=org, cause=Cause.ORG_DELETED).count() == 1
