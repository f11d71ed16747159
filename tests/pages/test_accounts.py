"""Sign up, sign in/out, password reset, the org picker, and the invitation accept page
with its clear errors for unknown, expired, revoked and used links."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from organizations.models import Membership, Organization, Role
from organizations.services import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    organization_create,
)
from seats.models import SeatUsageEvent
from tests.factories import PASSWORD, UserFactory

User = get_user_model()


def test_signup_creates_the_user_and_their_organization_then_signs_in(client, db):
    response = client.post(
        reverse("signup"),
        {
            "email": "Founder@Startup.test",
            "password": "a-long-pass-phrase",
            "organization_name": "Startup",
        },
    )
    user = User.objects.get(username="founder@startup.test")
    org = Organization.objects.get(name="Startup")
    assert user.email == "founder@startup.test"
    assert Membership.objects.get(organization=org, user=user).role == Role.OWNER
    assert SeatUsageEvent.objects.filter(organization=org).count() == 1
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert client.get(reverse("home"))["Location"] == reverse("members", args=[org.slug])


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            {
                "email": "owner@acme.test",
                "password": "a-long-pass-phrase",
                "organization_name": "X",
            },
            "An account with this email already exists",
        ),
        ({"email": "new@x.test", "password": "123", "organization_name": "X"}, "too short"),
        (
            {"email": "new@x.test", "password": "a-long-pass-phrase", "organization_name": ""},
            "This field is required",
        ),
        (
            {"email": "nope", "password": "a-long-pass-phrase", "organization_name": "X"},
            "Enter a valid email address",
        ),
    ],
)
def test_signup_with_bad_input_shows_the_error_and_creates_nothing(client, owner, data, error):
    users, orgs = User.objects.count(), Organization.objects.count()
    response = client.post(reverse("signup"), data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert (User.objects.count(), Organization.objects.count()) == (users, orgs)


def test_login_and_logout_by_post(client, owner, org):
    response = client.post(reverse("login"), {"username": owner.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("members", args=[org.slug])).status_code == 200
    assert client.get(reverse("logout")).status_code == 405  # logout is POST only
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("members", args=[org.slug])).status_code == 302


def test_password_reset_emails_a_link_that_sets_a_new_password(client, owner):
    client.post(reverse("password_reset"), {"email": owner.email})
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]  # Django swaps the token for a session marker
    response = client.post(
        form_url, {"new_password1": "brand-new-phrase-1", "new_password2": "brand-new-phrase-1"}
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("brand-new-phrase-1")


def test_picker_lists_every_organization_and_the_switcher_too(owner, org):
    from django.test import Client

    second = organization_create(name="Second Co", creator=owner)
    client = Client()
    client.force_login(owner)
    page = client.get(reverse("home")).content.decode()
    assert "Acme" in page and "Second Co" in page
    members_page = client.get(reverse("members", args=[org.slug])).content.decode()
    assert 'data-testid="org-switcher"' in members_page
    assert reverse("members", args=[second.slug]) in members_page


def test_org_page_reads_the_switcher_with_the_membership(owner, org):
    from django.test import Client

    second = organization_create(name="Second Co", creator=owner)
    client = Client()
    client.force_login(owner)
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(reverse("members", args=[org.slug])).content.decode()
    assert reverse("members", args=[second.slug]) in page
    # The membership query joins the organizations; no second read of them for the header.
    assert not [q for q in ctx.captured_queries if 'FROM "organizations_organization"' in q["sql"]]


def test_new_organization_from_the_picker(owner_client, owner):
    response = owner_client.post(reverse("organization-new"), {"name": "Side Project"})
    org = Organization.objects.get(name="Side Project")
    assert response["Location"] == reverse("members", args=[org.slug])
    assert owner_client.post(reverse("organization-new"), {"name": "  "}).status_code == 200
    assert Organization.objects.filter(name="").count() == 0


# --- Invitations ------------------------------------------------------------------------


@pytest.fixture
def invited(org, owner):
    invitation, token = invitation_create(organization=org, email="newbie@acme.test", actor=owner)
    return invitation, token


def test_anonymous_sees_the_invitation_with_sign_in_and_sign_up(client, invited):
    _, token = invited
    page = client.get(reverse("invitation-accept", args=[token])).content.decode()
    assert "Join Acme" in page and "newbie@acme.test" in page
    assert reverse("signup") in page and reverse("login") in page


def test_sign_up_from_an_invitation_then_accept_joins_without_a_new_org(client, invited, org):
    _, token = invited
    accept_url = reverse("invitation-accept", args=[token])
    orgs = Organization.objects.count()
    response = client.post(
        f"{reverse('signup')}?next={accept_url}",
        {"email": "newbie@acme.test", "password": "a-long-pass-phrase", "next": accept_url},
    )
    assert response["Location"] == accept_url
    assert Organization.objects.count() == orgs
    response = client.post(accept_url)
    assert response["Location"] == reverse("members", args=[org.slug])
    user = User.objects.get(username="newbie@acme.test")
    assert Membership.objects.get(organization=org, user=user).joined_via == "invitation"


def test_accept_with_the_wrong_account_is_refused(owner_client, invited, member):
    from django.test import Client

    _, token = invited
    client = Client()
    client.force_login(member)
    url = reverse("invitation-accept", args=[token])
    page = client.post(url, follow=True).content.decode()
    assert "sent to a different email address" in page
    assert not Membership.objects.filter(user__email="newbie@acme.test").exists()


def test_unknown_token_is_a_clear_404(client, db):
    response = client.get(reverse("invitation-accept", args=["nonsense"]))
    assert response.status_code == 404
    assert "This invitation link is not valid" in response.content.decode()


def test_revoked_invitation_says_so(client, invited, owner):
    invitation, token = invited
    invitation_revoke(invitation=invitation, actor=owner)
    page = client.get(reverse("invitation-accept", args=[token])).content.decode()
    assert "This invitation was revoked." in page


def test_used_invitation_says_so(client, invited):
    _, token = invited
    invitation_accept(token=token, user=UserFactory(email="newbie@acme.test"))
    page = client.get(reverse("invitation-accept", args=[token])).content.decode()
    assert "already been used" in page


def test_expired_invitation_says_so_and_accepting_changes_nothing(org, owner):
    from django.test import Client

    _, token = invitation_create(
        organization=org,
        email="late@acme.test",
        actor=owner,
        now=timezone.now() - timedelta(days=30),
    )
    user = UserFactory(email="late@acme.test")
    client = Client()
    client.force_login(user)
    url = reverse("invitation-accept", args=[token])
    assert "has expired" in client.get(url).content.decode()
    page = client.post(url, follow=True).content.decode()
    assert "expired on" in page
    assert not Membership.objects.filter(user=user).exists()
