"""Tenant scoping: outsiders and deleted organizations are invisible (404, not 403)."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from organizations.models import Role
from organizations.selectors import (
    membership_can_manage_billing,
    organization_get_for_member,
    organization_get_for_member_page,
    organization_list_for_user,
)
from organizations.services import organization_create, organization_delete


def test_member_gets_the_org_and_their_membership(org, member):
    found, membership = organization_get_for_member(slug=org.slug, user=member)
    assert found == org and membership.role == Role.MEMBER
    assert not membership_can_manage_billing(membership=membership)


def test_billing_manager_can_manage_billing(org, billing_manager):
    _, membership = organization_get_for_member(slug=org.slug, user=billing_manager)
    assert membership_can_manage_billing(membership=membership)


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_outsiders_get_404(org, outsider, who):
    user = outsider if who == "outsider" else AnonymousUser()
    with pytest.raises(Http404):
        organization_get_for_member(slug=org.slug, user=user)
    with pytest.raises(Http404):
        organization_get_for_member_page(slug=org.slug, user=user)
    assert not organization_list_for_user(user=user).exists()


def test_deleted_org_is_invisible_to_its_former_owner(org, owner):
    organization_delete(organization=org, actor=owner)
    with pytest.raises(Http404):
        organization_get_for_member(slug=org.slug, user=owner)
    with pytest.raises(Http404):
        organization_get_for_member_page(slug=org.slug, user=owner)
    assert list(organization_list_for_user(user=owner)) == []


def test_a_page_gets_the_membership_and_every_active_org_of_the_user_in_one_query(
    org, owner, outsider, other_org, django_assert_num_queries
):
    zebra = organization_create(name="Zebra", creator=owner)
    beta = organization_create(name="Beta", creator=owner)
    gone = organization_create(name="Gone", creator=owner)
    organization_delete(organization=gone, actor=owner)
    with django_assert_num_queries(1):
        found, membership, organizations = organization_get_for_member_page(
            slug=org.slug, user=owner
        )
    assert found == org and membership.user == owner and membership.role == Role.OWNER
    assert organizations == list(organization_list_for_user(user=owner)) == [org, beta, zebra]
