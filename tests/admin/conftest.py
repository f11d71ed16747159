"""Admin test helpers: a logged-in staff client, and running an admin action the way
the changelist form posts it."""

import pytest
from django.urls import reverse

# The Stripe emulator world from the billing tests, for subscribed organizations.
from tests.billing.conftest import stripe_world  # noqa: F401


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def run_action(client, model: str, action: str, objects, **extra):
    """POST the changelist's action form and follow the redirect; returns the response
    and the messages it shows."""
    response = client.post(
        reverse(f"admin:{model}_changelist"),
        {"action": action, "_selected_action": [o.pk for o in objects], **extra},
        follow=True,
    )
    return response, [(m.level_tag, m.message) for m in response.context["messages"]]
