"""Members list (any member) and the monthly usage report (billing roles)."""

from datetime import timedelta

from django.utils import timezone

from organizations.models import Membership
from organizations.services import membership_remove
from tests.api.conftest import url


def test_members_list_in_join_order_without_secrets(api, org, owner, billing_manager, member):
    body = api(member).get(url(org, "members")).json()
    assert body["count"] == 3
    emails = [m["email"] for m in body["results"]]
    assert emails == ["owner@acme.test", "billing@acme.test", "member@acme.test"]
    first = body["results"][0]
    assert set(first) == {"id", "email", "name", "role", "joined_via", "joined_at"}
    assert (first["role"], first["name"]) == ("owner", owner.get_full_name())


def test_members_list_is_paginated_and_tolerates_bad_paging(api, org, owner, member):
    client = api(owner)
    page = client.get(url(org, "members"), {"limit": 1, "offset": 1}).json()
    assert [m["email"] for m in page["results"]] == ["member@acme.test"]
    assert page["next"] is None and page["previous"] is not None
    for junk in ({"limit": "abc"}, {"limit": -5, "offset": "x"}, {"limit": 10**30}):
        response = client.get(url(org, "members"), junk)
        assert response.status_code == 200
        assert response.json()["count"] == 2


def test_removed_members_leave_the_list(api, org, owner, member):
    membership_remove(membership=Membership.objects.get(user=member), actor=owner)
    body = api(owner).get(url(org, "members")).json()
    assert [m["email"] for m in body["results"]] == ["owner@acme.test"]


def test_members_list_scoped_to_the_organization(api, org, other_org, owner, outsider):
    body = api(outsider).get(url(other_org, "members")).json()
    assert [m["email"] for m in body["results"]] == ["outsider@elsewhere.test"]


def test_usage_report_marks_the_month_in_progress(api, org, owner, member):
    org.created_at = timezone.now() - timedelta(days=70)
    org.save(update_fields=["created_at"])
    body = api(owner).get(url(org, "usage")).json()
    assert body["organization"] == org.slug
    months = body["months"]
    assert len(months) >= 3
    assert [m["in_progress"] for m in months] == [False] * (len(months) - 1) + [True]
    # The ledger started when the owner created the org (now), so older months are
    # unknown (null), never zero; the current one peaks at the two members.
    assert months[0]["peak"] is None
    assert months[-1]["peak"] == 2
