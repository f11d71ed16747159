"""POST invitations: created through the service, token emailed and never returned, and
every bad input refused with a clear JSON error that changes nothing."""

import pytest
from django.core import mail

from organizations.models import Invitation, InvitationStatus, invitation_token_hash
from organizations.services import invitation_create
from tests.api.conftest import assert_error, url


def invite(client, org, body, **kwargs):
    kwargs.setdefault("format", "json")
    return client.post(url(org, "invitations"), body, **kwargs)


def test_owner_invites_and_the_token_goes_only_into_the_email(api, org, owner):
    response = invite(api(owner), org, {"email": " New@Acme.TEST ", "role": "billing_manager"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id",
        "email",
        "role",
        "status",
        "created_at",
        "expires_at",
        "invited_by",
        "email_sent",
    }
    assert body["email_sent"] is True
    assert (body["email"], body["role"], body["status"], body["invited_by"]) == (
        "new@acme.test",
        "billing_manager",
        "pending",
        "owner@acme.test",
    )
    invitation = Invitation.objects.get(pk=body["id"], organization=org)
    assert invitation.token_hash not in response.content.decode()

    [email] = mail.outbox
    assert email.to == ["new@acme.test"]
    link = next(line for line in email.body.splitlines() if "/invitations/" in line)
    token = link.rstrip("/").rsplit("/", 1)[-1]
    assert invitation_token_hash(token) == invitation.token_hash
    assert token not in response.content.decode()


def test_role_defaults_to_member(api, org, billing_manager):
    response = invite(api(billing_manager), org, {"email": "m@acme.test"})
    assert response.status_code == 201
    assert response.json()["role"] == "member"


def test_billing_manager_may_not_invite_an_owner(api, org, billing_manager):
    error = assert_error(
        invite(api(billing_manager), org, {"email": "boss@acme.test", "role": "owner"}),
        403,
        "permission_denied",
    )
    assert "Only owners" in error["message"]
    assert not Invitation.objects.filter(organization=org).exists()


@pytest.mark.parametrize("body", [{"email": "x@acme.test"}, {"email": 5}, "not json"])
def test_member_is_refused_before_input_is_looked_at(api, org, member, body):
    assert_error(invite(api(member), org, body), 403, "permission_denied")
    assert not Invitation.objects.filter(organization=org).exists()
    assert mail.outbox == []


def test_full_organization_refuses_with_the_seat_message(api, org, owner, settings):
    for i in range(settings.SEATWISE_TRIAL_SEATS - 1):
        invitation_create(organization=org, email=f"fill{i}@acme.test", actor=owner)
    error = assert_error(
        invite(api(owner), org, {"email": "one-too-many@acme.test"}), 400, "seat_limit_reached"
    )
    assert "seat" in error["message"]
    assert not Invitation.objects.filter(email="one-too-many@acme.test").exists()
    assert mail.outbox == []


def test_duplicate_and_existing_member_are_refused(api, org, owner, member):
    client = api(owner)
    assert invite(client, org, {"email": "dup@acme.test"}).status_code == 201
    assert_error(invite(client, org, {"email": "DUP@acme.test"}), 400, "duplicate_invitation")
    assert_error(invite(client, org, {"email": "member@acme.test"}), 400, "already_member")
    assert Invitation.objects.filter(organization=org).count() == 1


BAD_BODIES = [
    pytest.param({}, "email", id="empty"),
    pytest.param({"email": ""}, "email", id="blank-email"),
    pytest.param({"email": "not-an-address"}, "email", id="bad-email"),
    pytest.param({"email": 12345}, "email", id="number-email"),
    pytest.param({"email": None}, "email", id="null-email"),
    pytest.param({"email": ["a@acme.test"]}, "email", id="list-email"),
    pytest.param({"email": {"x": 1}}, "email", id="object-email"),
    pytest.param({"email": "a" * 10_000 + "@acme.test"}, "email", id="huge-email"),
    pytest.param({"email": "x@acme.test", "role": "admin"}, "role", id="unknown-role"),
    pytest.param({"email": "x@acme.test", "role": ["owner"]}, "role", id="list-role"),
    pytest.param({"email": "x@acme.test", "role": "r" * 100_000}, "role", id="huge-role"),
    pytest.param({"email": "x@acme.test", "role": None}, "role", id="null-role"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_input_names_the_field_and_changes_nothing(api, org, owner, body, field):
    error = assert_error(invite(api(owner), org, body), 400, "invalid")
    assert field in error["fields"], error
    assert all(isinstance(m, str) and m for m in error["fields"][field])
    assert not Invitation.objects.filter(organization=org).exists()
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        ('{"email": "x@acme.test"', "application/json", 400, "parse_error"),
        ("\xff\xfe garbage", "application/json", 400, "parse_error"),
        ('["x@acme.test"]', "application/json", 400, "invalid"),
        ("null", "application/json", 400, "invalid"),
        ("email=x@acme.test", "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_malformed_bodies_get_json_errors(api, org, owner, raw, content_type, status, code):
    response = api(owner).post(url(org, "invitations"), raw, content_type=content_type)
    assert_error(response, status, code)
    assert not Invitation.objects.filter(organization=org).exists()


def test_form_encoded_body_works_like_json(api, org, owner):
    response = invite(api(owner), org, {"email": "form@acme.test"}, format="multipart")
    assert response.status_code == 201
    assert Invitation.objects.get(email="form@acme.test").status == InvitationStatus.PENDING


def test_unknown_role_message_lists_the_roles_without_echoing_the_input(api, org, owner):
    error = assert_error(
        invite(api(owner), org, {"email": "x@acme.test", "role": "r" * 100_000}), 400, "invalid"
    )
    assert error["fields"]["role"] == [
        "Unknown role. Choose one of: owner, billing_manager, member."
    ]
    assert len(str(error)) < 500
