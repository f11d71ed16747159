"""Shared fixtures. People-named fixtures (owner, billing_manager, member, outsider)
live here so every test module speaks the same language.

``org`` is "Acme" created by ``owner`` through the service (so its ledger starts with
the owner's +1 row), on trial with the trial cap of seats; ``billing_manager`` and
``member`` joined through the API-style direct add.
"""

import pytest

from organizations.models import Role
from organizations.services import membership_add_direct, organization_create
from tests.factories import StaffFactory, UserFactory

# The Stripe emulator: a session-wide server, reset for each test that asks for it.
pytest_plugins = ["stripe_emulator.pytest_plugin"]


@pytest.fixture
def owner(db):
    return UserFactory(email="owner@acme.test", first_name="Olivia")


@pytest.fixture
def org(owner):
    return organization_create(name="Acme", creator=owner)


@pytest.fixture
def billing_manager(org, owner):
    user = UserFactory(email="billing@acme.test", first_name="Bill")
    membership_add_direct(organization=org, user=user, role=Role.BILLING_MANAGER, actor=owner)
    return user


@pytest.fixture
def member(org, owner):
    user = UserFactory(email="member@acme.test", first_name="Mia")
    membership_add_direct(organization=org, user=user, role=Role.MEMBER, actor=owner)
    return user


@pytest.fixture
def outsider(db):
    return UserFactory(email="outsider@elsewhere.test", first_name="Otto")


@pytest.fixture
def other_org(outsider):
    """An organization the Acme people are not in, owned by ``outsider``."""
    return organization_create(name="Elsewhere", creator=outsider)


@pytest.fixture
def staff(db):
    return StaffFactory(email="staff@seatwise.test")
