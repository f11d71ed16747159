"""Tenant scoping: outsiders and deleted organizations are invisible (404, not 403)."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from organizations.models import Role
from organizations.selectors import (
    membership_can_manage_billing,
    organization_get_for_member,
    organization_list_for_user,
)
from organizations.services import organization_delete


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
    assert not organization_list_for_user(user=user).exists()


def test_deleted_org_is_invisible_to_its_former_owner(org, owner):
    organization_delete(organization=org, actor=owner)
    with pytest.raises(Http404):
        organization_get_for_member(slug=org.slug, user=owner)
    assert list(organization_list_for_user(user=owner)) == []
