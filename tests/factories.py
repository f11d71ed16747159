"""factory-boy factories. Users log in with their email as username.

Memberships are never built by a factory: they must go through the services so the
ledger stays true. Use ``organization_create`` / ``membership_add_*`` (see conftest).
"""

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from organizations.models import Organization

PASSWORD = "seatwise-test"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    email = factory.Sequence(lambda n: f"person{n}@example.test")
    username = factory.SelfAttribute("email")
    password = factory.django.Password(PASSWORD)
    is_active = True


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


class OrganizationFactory(factory.django.DjangoModelFactory):
    """A bare organization with no members and no ledger: for backfill and report
    tests that write history themselves."""

    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    email = factory.Sequence(lambda n: f"billing{n}@example.test")
    created_at = factory.LazyFunction(timezone.now)
