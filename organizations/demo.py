"""The demo organization for ``make run``: Acme Analytics with an owner, a billing
manager, three members, one pending invitation and four months of ledger history.

Everything goes through the real services with backdated ``now=``, so the demo's ledger
is exactly what production would have written. Seeding twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from organizations.models import Membership, Organization, Role
from organizations.services import (
    invitation_accept,
    invitation_create,
    membership_add_direct,
    membership_join_by_domain,
    membership_leave,
    membership_remove,
    organization_create,
    organization_domain_add,
    organization_domain_verify,
)

DEMO_PASSWORD = "seatwise-demo"
DEMO_ORG_NAME = "Acme Analytics"
DEMO_SEATS_PURCHASED = 8


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str


DEMO_LOGINS = [
    DemoLogin("owner@acme.test", "owner of Acme Analytics"),
    DemoLogin("billing@acme.test", "billing manager of Acme Analytics"),
    DemoLogin("ana@acme.test", "member"),
    DemoLogin("ben@acme.test", "member"),
    DemoLogin("chloe@acme.test", "member (joined by verified domain)"),
    DemoLogin("admin@acme.test", "staff superuser: /admin/"),
]


def _user(email: str, first_name: str, **extra):
    user = get_user_model()(username=email, email=email, first_name=first_name, **extra)
    user.set_password(DEMO_PASSWORD)
    user.save()
    return user


def demo_seed(*, now: datetime | None = None) -> Organization | None:
    """Create the demo. Returns None when it already exists (nothing is changed)."""
    now = now or timezone.now()
    if get_user_model().objects.filter(username="owner@acme.test").exists():
        return None
    # Midnight UTC, so the demo's billing months read cleanly in the report.
    start = (now - timedelta(days=120)).replace(hour=0, minute=0, second=0, microsecond=0)

    def day(n: int) -> datetime:
        return start + timedelta(days=n)

    with transaction.atomic():
        admin = _user("admin@acme.test", "Ada", is_staff=True, is_superuser=True)
        owner = _user("owner@acme.test", "Olivia")
        billing = _user("billing@acme.test", "Bill")
        ana, ben, chloe = (
            _user("ana@acme.test", "Ana"),
            _user("ben@acme.test", "Ben"),
            _user("chloe@acme.test", "Chloe"),
        )
        dan, eve = _user("dan@acme.test", "Dan"), _user("eve@acme.test", "Eve")

        org = organization_create(name=DEMO_ORG_NAME, creator=owner, now=start)
        # What billing's sync would have written after the first checkout.
        org.seats_purchased = DEMO_SEATS_PURCHASED
        org.billing_anchor = start
        org.save(update_fields=["seats_purchased", "billing_anchor"])

        _, token = invitation_create(
            organization=org,
            email=billing.email,
            role=Role.BILLING_MANAGER,
            actor=owner,
            now=day(1),
        )
        invitation_accept(token=token, user=billing, now=day(2))
        _, token = invitation_create(organization=org, email=ana.email, actor=owner, now=day(3))
        invitation_accept(token=token, user=ana, now=day(4))
        membership_add_direct(organization=org, user=ben, actor=billing, now=day(20))
        membership_add_direct(organization=org, user=dan, actor=owner, now=day(25))
        membership_add_direct(organization=org, user=eve, actor=owner, now=day(40))
        membership_leave(
            membership=Membership.objects.get(organization=org, user=dan), actor=dan, now=day(70)
        )
        membership_remove(
            membership=Membership.objects.get(organization=org, user=eve),
            actor=owner,
            now=day(90),
        )
        domain = organization_domain_add(
            organization=org, domain="acme.test", actor=owner, now=day(95)
        )
        organization_domain_verify(domain=domain, actor=admin, now=day(96))
        membership_join_by_domain(user=chloe, verified_email=chloe.email, now=day(100))
        invitation_create(
            organization=org, email="finn@acme.test", actor=owner, now=now - timedelta(days=1)
        )
    return org
