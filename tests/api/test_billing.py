"""The billing summary and the entitlements: the numbers are subscription_summary's, on
trial and on a real (emulated) Stripe subscription with a pending decrease."""

from datetime import timedelta

from django.conf import settings

from billing import services
from organizations.services import invitation_create
from tests.api.conftest import url


def test_trial_summary_shows_the_trial_cap_and_no_invoice(api, org, owner, member):
    invitation_create(organization=org, email="soon@acme.test", actor=owner)
    body = api(owner).get(url(org, "billing")).json()
    assert body["organization"] == org.slug
    assert (body["status"], body["status_label"], body["tier"]) == ("trialing", "Trial", None)
    assert body["seats"] == {
        "purchased": settings.SEATWISE_TRIAL_SEATS,
        "used": 3,
        "at_renewal": settings.SEATWISE_TRIAL_SEATS,
        "members": 2,
        "pending_invitations": 1,
        "free": settings.SEATWISE_TRIAL_SEATS - 3,
    }
    assert body["next_invoice"] is None
    assert body["pending_change"] is None
    assert body["trial_ends_at"] is not None


def test_expired_trial_shows_in_entitlements(api, org, member):
    org.trial_ends_at = org.created_at - timedelta(days=1)
    org.save(update_fields=["trial_ends_at"])
    body = api(member).get(url(org, "entitlements")).json()
    assert body["status"] == "trial_expired"


def test_subscribed_summary_follows_stripe_and_the_pending_decrease(api, org, owner, stripe_world):
    org = stripe_world.subscribe(org, owner, tier="teams", cycle="monthly", seats=4)
    now = stripe_world.now(org)
    services.seats_decrease_schedule(organization=org, actor=owner, seats=2, now=now)
    org.refresh_from_db()

    body = api(owner).get(url(org, "billing")).json()
    assert (body["status"], body["tier"], body["tier_name"], body["cycle"]) == (
        "active",
        "teams",
        "Teams",
        "monthly",
    )
    assert body["seats"]["purchased"] == 4
    assert body["seats"]["used"] == 1
    assert body["seats"]["at_renewal"] == 2
    assert body["pending_change"]["target_quantity"] == 2
    assert body["pending_change"]["description"] == "4 → 2 seats"
    assert body["period_end"] == org.current_period_end.isoformat().replace("+00:00", "Z")
    # The renewal bills the decreased quantity at the Teams monthly price ($18/seat).
    assert body["next_invoice"] == {
        "amount": 2 * 1800,
        "currency": "usd",
        "date": body["period_end"],
    }
    assert body["limits"]["seats"] == 2


def test_entitlements_give_members_limits_but_no_billing_detail(api, org, owner, member):
    body = api(member).get(url(org, "entitlements")).json()
    assert set(body) == {"organization", "status", "tier", "trial_ends_at", "limits"}
    assert body["limits"] == {
        "max_seats": None,
        "seats": settings.SEATWISE_TRIAL_SEATS,
        "features": [],
    }


def test_entitlements_carry_the_plan_features_once_subscribed(
    api, org, owner, member, stripe_world
):
    org = stripe_world.subscribe(org, owner, tier="enterprise", cycle="annual", seats=3)
    body = api(member).get(url(org, "entitlements")).json()
    plan = settings.SEATWISE_PLANS["enterprise"]
    assert (body["status"], body["tier"]) == ("active", "enterprise")
    assert body["limits"]["features"] == list(plan.get("features", ()))
    assert body["limits"]["max_seats"] == plan.get("max_seats")
    assert body["limits"]["seats"] == 3
