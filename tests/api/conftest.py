"""API test helpers: a DRF client per person, authenticated by token (the way a client
app calls us). Session authentication has its own tests."""

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

# The Stripe emulator world from the billing tests, for subscribed organizations.
from tests.billing.conftest import stripe_world  # noqa: F401


@pytest.fixture(autouse=True)
def fresh_throttles():
    # Throttle counters live in the cache; each test starts with none.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api():
    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return client_for


def url(org, endpoint: str) -> str:
    return f"/api/v1/orgs/{org.slug}/{endpoint}/"


def assert_error(response, status: int, code: str | None = None) -> dict:
    """Every failure has the one error shape; returns its ``error`` object."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error
