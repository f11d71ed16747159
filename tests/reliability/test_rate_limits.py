"""Sign-in, invitation links and invitation sending are rate-limited (429 with
Retry-After), and a refused request runs nothing. Only failures count where success is
harmless, so people who type their password right are never slowed down."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from organizations.models import Invitation, Membership
from organizations.services import invitation_create
from tests.factories import PASSWORD, UserFactory
from tests.reliability.conftest import client_for


def assert_limited(response) -> None:
    assert response.status_code == 429, response.status_code
    assert int(response["Retry-After"]) > 0


def test_failed_sign_ins_are_limited_per_account(client, owner, tally):
    url = reverse("login")
    for _ in range(10):
        response = client.post(url, {"username": owner.username, "password": "wrong"})
        assert response.status_code == 200  # the form again, with an error
    tally.add("security checks")
    # Now even the right password waits: the guesser cannot tell it was right.
    assert_limited(client.post(url, {"username": owner.username, "password": PASSWORD}))
    assert "_auth_user_id" not in client.session
    # Another account from the same address is not locked by it.
    other = UserFactory(email="other@acme.test")
    response = client.post(url, {"username": other.username, "password": PASSWORD})
    assert response.status_code == 302


def test_failed_sign_ins_are_limited_per_address(client, db, tally):
    url = reverse("login")
    for n in range(30):
        client.post(url, {"username": f"guess{n}@acme.test", "password": "x"})
    assert_limited(client.post(url, {"username": "fresh@acme.test", "password": "x"}))
    tally.add("security checks")


def test_successful_sign_ins_never_count(client, owner):
    url = reverse("login")
    for _ in range(25):
        response = client.post(url, {"username": owner.username, "password": PASSWORD})
        assert response.status_code == 302
        client.logout()


def test_guessing_invitation_links_is_limited(client, org, owner, tally):
    _invitation, token = invitation_create(organization=org, email="real@acme.test", actor=owner)
    for n in range(30):
        assert client.get(f"/invitations/guess-{n}/").status_code == 404
    assert_limited(client.get(f"/invitations/{token}/"))
    tally.add("security checks")
    # A refused accept runs nothing.
    joiner = UserFactory(email="real@acme.test")
    client.force_login(joiner)
    assert_limited(client.post(f"/invitations/{token}/"))
    assert not Membership.objects.filter(user=joiner).exists()


def test_opening_a_real_invitation_link_never_counts(client, org, owner):
    _invitation, token = invitation_create(organization=org, email="real@acme.test", actor=owner)
    for _ in range(40):
        assert client.get(f"/invitations/{token}/").status_code == 200


def test_sending_invitations_from_the_members_page_is_limited(org, owner, tally):
    client = client_for(owner)
    url = reverse("invite", args=[org.slug])
    for n in range(60):
        client.post(url, {"email": f"not-an-email-{n}", "role": "member"})
    before = Invitation.objects.count()
    assert_limited(client.post(url, {"email": "new@acme.test", "role": "member"}))
    assert Invitation.objects.count() == before
    tally.add("security checks")


@pytest.mark.parametrize("endpoint", ["invitations"])
def test_sending_invitations_through_the_api_is_limited(org, owner, endpoint, tally):
    api = APIClient()
    token, _ = Token.objects.get_or_create(user=owner)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    url = f"/api/v1/orgs/{org.slug}/{endpoint}/"
    for n in range(60):
        api.post(url, {"email": f"bad-{n}"}, format="json")
    before = Invitation.objects.count()
    response = api.post(url, {"email": "new@acme.test"}, format="json")
    assert_limited(response)
    assert response.json()["error"]["code"] == "throttled"
    assert Invitation.objects.count() == before
    tally.add("security checks")


def test_the_api_token_endpoint_is_throttled(owner, tally):
    api = APIClient()
    for _ in range(10):
        api.post("/api/v1/auth/token/", {"username": owner.username, "password": "x"})
    assert_limited(api.post("/api/v1/auth/token/", {"username": owner.username, "password": "x"}))
    tally.add("security checks")
