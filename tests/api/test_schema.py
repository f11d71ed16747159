"""The OpenAPI schema: valid, warning-free, served, and describing the error bodies."""

import pytest
import yaml
from django.core.management import call_command

from billing.gateway import PaymentDeclined, StripeInvalid, StripeTransient
from config.api import api_exception_handler

ORG_OPERATIONS = {
    ("/api/v1/orgs/{slug}/billing/", "get"): {"401", "403", "404"},
    ("/api/v1/orgs/{slug}/entitlements/", "get"): {"401", "404"},
    ("/api/v1/orgs/{slug}/usage/", "get"): {"401", "403", "404"},
    ("/api/v1/orgs/{slug}/members/", "get"): {"401", "404"},
    ("/api/v1/orgs/{slug}/invitations/", "post"): {"400", "401", "403", "404", "415"},
    ("/api/v1/auth/token/", "post"): {"400", "429"},
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker):
    path = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    with django_db_blocker.unblock():
        # --validate checks against the OpenAPI 3 JSON schema; --fail-on-warn turns any
        # generator warning (an undescribed view, a colliding enum) into a failure.
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_schema_lists_every_endpoint(schema):
    for path, method in ORG_OPERATIONS:
        assert method in schema["paths"][path], (path, method)


@pytest.mark.parametrize(("operation", "errors"), ORG_OPERATIONS.items())
def test_every_operation_documents_its_error_bodies(schema, operation, errors):
    path, method = operation
    responses = schema["paths"][path][method]["responses"]
    assert errors <= set(responses)
    for code in errors:
        ref = responses[code]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/Error"
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert set(error["required"]) == {"code", "message"}


def test_schema_and_docs_are_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/v1/orgs/{slug}/billing/" in response.json()["paths"]
    assert client.get("/api/docs/").status_code == 200


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (PaymentDeclined("Your card was declined.", code="card_declined"), 402, "card_declined"),
        (StripeTransient("Stripe is not answering right now."), 503, "stripe_unavailable"),
        (
            StripeInvalid("No such subscription: 'sub_x'", code="resource_missing"),
            502,
            "resource_missing",
        ),
    ],
)
def test_stripe_errors_map_to_the_error_shape(exc, status, code):
    response = api_exception_handler(exc, {})
    assert response.status_code == status
    assert response.data == {"error": {"code": code, "message": exc.message}}


def test_unexpected_errors_are_left_to_django():
    assert api_exception_handler(RuntimeError("bug"), {}) is None
