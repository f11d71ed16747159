"""Clients signed in as the people from tests/conftest.py."""

import pytest
from django.test import Client


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner, org):
    return _client_for(owner)


@pytest.fixture
def billing_manager_client(billing_manager):
    return _client_for(billing_manager)


@pytest.fixture
def member_client(member):
    return _client_for(member)


@pytest.fixture
def outsider_client(outsider, other_org):
    return _client_for(outsider)


# The lead's emulator-backed billing driver (tests/billing/conftest.py), shared here so
# the subscription pages are tested against the same real services and emulator.
from tests.billing.conftest import stripe_world  # noqa: E402, F401
