"""Organization reads that hold a rule: tenant scoping and roles.

Views and the API start every org-scoped request here, so an outsider gets 404 and a
deleted organization is invisible.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from organizations.models import Membership, Organization, Role


def organization_list_for_user(*, user) -> QuerySet[Organization]:
    if user is None or not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.active().filter(memberships__user=user)


def organization_get_for_member(*, slug: str, user) -> tuple[Organization, Membership]:
    """The organization and the user's membership in it; 404 for outsiders, so a
    tenant's existence does not leak."""
    if user is None or not user.is_authenticated:
        raise Http404("No such organization.")
    membership = (
        Membership.objects.select_related("organization")
        .filter(organization__slug=slug, organization__deleted_at__isnull=True, user=user)
        .first()
    )
    if membership is None:
        raise Http404("No such organization.")
    return membership.organization, membership


def organization_get_for_member_page(
    *, slug: str, user
) -> tuple[Organization, Membership, list[Organization]]:
    """As ``organization_get_for_member``, plus every active organization of the user
    (the header's switcher, in ``Organization.Meta.ordering``), in one query: the
    user's memberships, from which the one for ``slug`` is picked."""
    if user is None or not user.is_authenticated:
        raise Http404("No such organization.")
    memberships = list(
        Membership.objects.select_related("organization")
        .filter(user=user, organization__deleted_at__isnull=True)
        .order_by("organization__name", "organization__id")
    )
    found = next((m for m in memberships if m.organization.slug == slug), None)
    if found is None:
        raise Http404("No such organization.")
    return found.organization, found, [m.organization for m in memberships]


def membership_can_manage_billing(*, membership: Membership) -> bool:
    return membership.role in (Role.OWNER, Role.BILLING_MANAGER)
