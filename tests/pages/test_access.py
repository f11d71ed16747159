"""Tenancy and roles on every org-scoped URL (SCENARIOS.md 18): anonymous users go to
the login page, outsiders get 404 (never 403, so an org's existence does not leak),
members get 403 on billing pages, and GET-only or POST-only URLs refuse the other verb.
"""

import pytest
from django.urls import reverse

from billing.models import PendingChange
from organizations.models import Invitation, Membership

# (url name, extra kwargs, method, billing?)
ORG_URLS = [
    ("organization-home", {}, "get", False),
    ("members", {}, "get", False),
    ("invite", {}, "post", False),
    ("invitation-resend", {"invitation_id": 1}, "post", False),
    ("invitation-revoke", {"invitation_id": 1}, "post", False),
    ("member-remove", {"membership_id": 1}, "post", False),
    ("member-role", {"membership_id": 1}, "post", False),
    ("leave", {}, "post", False),
    ("usage", {}, "get", True),
    ("usage-csv", {}, "get", True),
    ("usage-json", {}, "get", True),
    ("subscription", {}, "get", True),
    ("seats-preview", {}, "post", True),
    ("seats-preview-live", {}, "get", True),
    ("seats-confirm", {}, "post", True),
    ("cycle-preview", {}, "post", True),
    ("cycle-confirm", {}, "post", True),
    ("plan-preview", {}, "post", True),
    ("plan-confirm", {}, "post", True),
    ("subscription-cancel", {}, "post", True),
    ("subscription-uncancel", {}, "post", True),
    ("pending-cancel", {"change_id": 1}, "post", True),
    ("checkout-preview", {}, "post", True),
    ("checkout", {}, "post", True),
    ("checkout-done", {}, "get", True),
]
BILLING_URLS = [u for u in ORG_URLS if u[3]]
IDS = [u[0] for u in ORG_URLS]


def _url(org, name, kwargs):
    return reverse(name, kwargs={"slug": org.slug, **kwargs})


def _counts():
    return (Membership.objects.count(), Invitation.objects.count(), PendingChange.objects.count())


@pytest.mark.parametrize(("name", "kwargs", "method", "billing"), ORG_URLS, ids=IDS)
def test_anonymous_is_sent_to_login(client, org, name, kwargs, method, billing):
    url = _url(org, name, kwargs)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("name", "kwargs", "method", "billing"), ORG_URLS, ids=IDS)
def test_outsider_gets_404_and_changes_nothing(
    outsider_client, org, member, name, kwargs, method, billing
):
    before = _counts()
    response = getattr(outsider_client, method)(
        _url(org, name, kwargs), {"email": "x@example.test", "seats": "9", "role": "owner"}
    )
    assert response.status_code == 404
    assert _counts() == before


@pytest.mark.parametrize(("name", "kwargs", "method", "billing"), ORG_URLS, ids=IDS)
def test_unknown_organization_is_404_for_members_too(owner_client, name, kwargs, method, billing):
    response = getattr(owner_client, method)(
        reverse(name, kwargs={"slug": "no-such-org", **kwargs})
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("name", "kwargs", "method", "billing"), BILLING_URLS, ids=IDS[-len(BILLING_URLS) :]
)
def test_member_gets_403_on_billing_urls(member_client, org, name, kwargs, method, billing):
    before = _counts()
    response = getattr(member_client, method)(
        _url(org, name, kwargs), {"seats": "9", "cycle": "annual", "tier": "enterprise"}
    )
    assert response.status_code == 403
    assert _counts() == before


@pytest.mark.parametrize(
    ("name", "kwargs", "method", "billing"), BILLING_URLS, ids=IDS[-len(BILLING_URLS) :]
)
def test_billing_manager_is_allowed_past_the_role_check(
    billing_manager_client, org, name, kwargs, method, billing
):
    response = getattr(billing_manager_client, method)(_url(org, name, kwargs))
    # Whatever the page does with empty input, it is not a refusal of the role.
    assert response.status_code not in (403, 404) or name == "pending-cancel"


@pytest.mark.parametrize(("name", "kwargs", "method", "billing"), ORG_URLS, ids=IDS)
def test_wrong_http_method_is_refused(owner_client, org, name, kwargs, method, billing):
    other = "post" if method == "get" else "get"
    response = getattr(owner_client, other)(_url(org, name, kwargs))
    assert response.status_code == 405


def test_post_without_csrf_token_is_refused(owner, org):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    before = _counts()
    response = client.post(reverse("invite", args=[org.slug]), {"email": "new@acme.test"})
    assert response.status_code == 403
    assert _counts() == before


def test_member_sees_no_billing_controls(member_client, org):
    page = member_client.get(reverse("members", args=[org.slug])).content.decode()
    assert reverse("subscription", args=[org.slug]) not in page
    assert reverse("usage", args=[org.slug]) not in page
    assert reverse("invite", args=[org.slug]) not in page
    assert 'data-testid="trial-banner"' not in page
    assert "Remove" not in page
