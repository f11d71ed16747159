"""schemathesis against the API's own OpenAPI schema: generated requests (valid and
not) for every operation, as the organization's owner and against a real slug. No
answer is a 500, and every 4xx carries the one JSON error shape."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

APP = get_wsgi_application()
# Through WSGI, as gunicorn calls it, Django closes connections after each request, so
# the test cannot sit inside one transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api_schema(transactional_db):
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", APP)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def owner_token(owner, org, billing_manager, member):
    token, _ = Token.objects.get_or_create(user=owner)
    return token.key


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    # Deterministic in `make test`, so a failure reproduces. One randomized full-suite
    # run crashed inside schemathesis's own reporting ('Function' has no '_nodeid'),
    # hiding whatever case it was reporting; randomized runs belong in `make test-all`.
    derandomize=True,
)
def test_the_api_never_500s_and_every_4xx_is_a_json_error(case, org, owner_token, tally):
    if "slug" in (case.path_parameters or {}):
        case.path_parameters["slug"] = org.slug
    case.headers = {**(case.headers or {}), "Authorization": f"Token {owner_token}"}

    response = case.call()

    tally.add("inputs generated")
    tally.add("API requests generated")
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if 400 <= response.status_code < 500:
        headers = {k.lower(): v for k, v in response.headers.items()}
        content_type = headers["content-type"]
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/json"), response.text
        body = response.json()
        assert set(body) == {"error"}, body
        assert body["error"]["code"] and body["error"]["message"]
