"""Tenancy and roles on every org-scoped endpoint: anonymous 401, outsiders 404 (never
403, so a tenant's existence does not leak), members 403 on billing-only endpoints."""

import pytest
from rest_framework.test import APIClient

from organizations.services import organization_delete
from tests.api.conftest import assert_error, url

ENDPOINTS = [
    ("get", "billing"),
    ("get", "entitlements"),
    ("get", "usage"),
    ("get", "members"),
    ("post", "invitations"),
]
BILLING_ONLY = [("get", "billing"), ("get", "usage")]


def call(client, method, org, endpoint):
    if method == "post":
        return client.post(url(org, endpoint), {"email": "new@acme.test"}, format="json")
    return client.get(url(org, endpoint))


@pytest.mark.parametrize(("method", "endpoint"), ENDPOINTS)
def test_anonymous_gets_401_with_token_challenge(api, org, method, endpoint):
    response = call(api(), method, org, endpoint)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(("method", "endpoint"), ENDPOINTS)
def test_bad_token_gets_401(org, method, endpoint):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "x" * 40)
    assert_error(call(client, method, org, endpoint), 401, "authentication_failed")


@pytest.mark.parametrize(("method", "endpoint"), ENDPOINTS)
def test_outsider_gets_404_like_a_missing_org(api, org, other_org, outsider, method, endpoint):
    response = call(api(outsider), method, org, endpoint)
    missing = call(api(outsider), method, type(org)(slug="no-such-org"), endpoint)
    assert_error(response, 404, "not_found")
    assert response.json() == missing.json()


@pytest.mark.parametrize(("method", "endpoint"), BILLING_ONLY)
def test_member_gets_403_on_billing_only_endpoints(api, org, member, method, endpoint):
    error = assert_error(call(api(member), method, org, endpoint), 403, "permission_denied")
    assert "owners and billing managers" in error["message"]


@pytest.mark.parametrize(("method", "endpoint"), BILLING_ONLY)
def test_billing_manager_reads_billing_only_endpoints(api, org, billing_manager, method, endpoint):
    assert call(api(billing_manager), method, org, endpoint).status_code == 200


def test_deleted_organization_is_404_even_for_its_former_owner(api, org, owner):
    organization_delete(organization=org, actor=owner)
    assert_error(api(owner).get(url(org, "entitlements")), 404, "not_found")


def test_session_authentication_works_for_reads(client, org, member):
    client.force_login(member)
    response = client.get(url(org, "entitlements"))
    assert response.status_code == 200
    assert response.json()["organization"] == org.slug


def test_session_writes_need_the_csrf_token(org, owner):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(url(org, "invitations"), {"email": "x@acme.test"}, format="json")
    error = assert_error(response, 403, "permission_denied")
    assert "CSRF" in error["message"]
    assert not org.invitations.exists()


def test_unknown_api_path_is_a_json_404(api, owner):
    assert_error(api(owner).get("/api/v1/nothing-here/"), 404, "not_found")
    assert_error(api().post("/api/v2/orgs/acme/billing/"), 404, "not_found")


def test_wrong_method_is_a_json_405(api, org, owner):
    assert_error(api(owner).delete(url(org, "billing")), 405, "method_not_allowed")
    assert_error(api(owner).get(url(org, "invitations")), 405, "method_not_allowed")


def test_token_is_issued_for_the_right_password_only(org, owner):
    from tests.factories import PASSWORD

    client = APIClient()
    ok = client.post("/api/v1/auth/token/", {"username": owner.username, "password": PASSWORD})
    assert ok.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {ok.json()['token']}")
    assert client.get(url(org, "billing")).status_code == 200

    wrong = APIClient().post(
        "/api/v1/auth/token/", {"username": owner.username, "password": "nope"}
    )
    assert_error(wrong, 400, "invalid")


def test_token_endpoint_slows_down_password_guessing(owner):
    client = APIClient()
    for _ in range(10):
        guess = client.post("/api/v1/auth/token/", {"username": owner.username, "password": "x"})
        assert guess.status_code == 400
    error = assert_error(
        client.post("/api/v1/auth/token/", {"username": owner.username, "password": "x"}),
        429,
        "throttled",
    )
    assert "throttled" in error["message"].lower()
