"""The subscription page against the real billing services and the Stripe emulator:
status and amounts, seat changes with their preview, the Now / After renewal cycle
comparison (SCENARIOS.md 14), pending changes, plan moves, cancel/undo, checkout.
Every refusal is shown as the service words it, and changes nothing."""

import copy

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import PendingChange
from billing.selectors import invoices_for_organization
from billing.services import seat_change_preview
from billing.views import billing_banner
from organizations.models import Organization
from organizations.templatetags.seatwise import localdate, money


@pytest.fixture
def subscribed(stripe_world, org, owner):
    """Acme on Teams monthly with 3 seats, its period starting now (so the pages' own
    clock and the emulator's agree)."""
    return stripe_world.subscribe(org, owner, seats=3, start=timezone.now())


def _page(client, org, **kwargs) -> str:
    return client.get(reverse("subscription", args=[org.slug])).content.decode()


def test_subscribed_page_shows_plan_seats_next_payment_and_invoices(owner_client, subscribed):
    page = _page(owner_client, subscribed)
    assert "Active" in page
    assert "Teams · Monthly" in page
    assert f"$54.00 on {localdate(subscribed.current_period_end)}" in page
    assert 'data-testid="invoices"' in page and "$54.00" in page
    assert 'data-testid="checkout-form"' not in page


def test_seat_increase_preview_shows_the_charge_and_changes_nothing(
    owner_client, subscribed, owner
):
    response = owner_client.post(reverse("seats-preview", args=[subscribed.slug]), {"seats": "5"})
    page = response.content.decode()
    expected = seat_change_preview(organization=subscribed, actor=owner, seats=5).amount_due
    assert expected > 0
    assert f"You will be charged <strong>{money(expected)}</strong> now" in page
    subscribed.refresh_from_db()
    assert subscribed.seats_purchased == 3

    response = owner_client.post(reverse("seats-confirm", args=[subscribed.slug]), {"seats": "5"})
    assert response.status_code == 302
    subscribed.refresh_from_db()
    assert subscribed.seats_purchased == 5
    assert "You now have 5 seats" in _page(owner_client, subscribed)


def test_live_preview_gives_the_confirmation_figures_as_json(owner_client, subscribed, owner):
    url = reverse("seats-preview-live", args=[subscribed.slug])

    more = owner_client.get(url, {"seats": "5"}).json()
    fewer = owner_client.get(url, {"seats": "2"}).json()

    expected = seat_change_preview(organization=subscribed, actor=owner, seats=5).amount_due
    assert more["amount_due"] == expected > 0
    assert more["summary"].startswith(f"{money(expected)} charged now")
    assert fewer["summary"] == (
        f"Drops to 2 at renewal on {localdate(subscribed.current_period_end)}; nothing is "
        "charged or credited now."
    )
    subscribed.refresh_from_db()
    assert (subscribed.seats_purchased, PendingChange.objects.count()) == (3, 0)


@pytest.mark.parametrize("seats", ["abc", "", "0", "-4", "100000"])
def test_live_preview_refuses_bad_numbers_with_a_message(owner_client, subscribed, seats):
    response = owner_client.get(
        reverse("seats-preview-live", args=[subscribed.slug]), {"seats": seats}
    )
    assert response.status_code == 400
    assert response.json()["error"]


def test_seat_decrease_is_scheduled_shown_in_the_banner_and_cancelled(owner_client, subscribed):
    renewal = localdate(subscribed.current_period_end)
    page = owner_client.post(
        reverse("seats-preview", args=[subscribed.slug]), {"seats": "2"}
    ).content.decode()
    assert f"Seats drop to 2 at renewal on {renewal}" in page
    assert not PendingChange.objects.exists()

    owner_client.post(reverse("seats-confirm", args=[subscribed.slug]), {"seats": "2"})
    change = PendingChange.objects.get(status="pending")
    page = _page(owner_client, subscribed)
    assert 'data-testid="pending-banner"' in page and "seats drop to 2" in page
    assert "$36.00" in page  # the next invoice bills 2 seats

    response = owner_client.post(reverse("pending-cancel", args=[subscribed.slug, change.pk]))
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.status == "cancelled"
    assert 'data-testid="pending-banner"' not in _page(owner_client, subscribed)


def test_decrease_below_used_is_refused_with_the_reason(
    owner_client, subscribed, billing_manager, member
):
    response = owner_client.post(reverse("seats-preview", args=[subscribed.slug]), {"seats": "1"})
    assert response.status_code == 400
    assert "3 seats are in use, so you can&#x27;t go down to 1." in response.content.decode()
    assert not PendingChange.objects.exists()


@pytest.mark.parametrize(
    ("seats", "error"),
    [
        ("abc", "Enter the number of seats as a whole number."),
        ("", "Enter the number of seats."),
        ("0", "A subscription needs at least 1 seat."),
        ("-4", "A subscription needs at least 1 seat."),
        ("100000", "the most is 10,000"),
        ("2.5", "Enter the number of seats as a whole number."),
    ],
)
def test_bad_seat_input_shows_an_error_and_changes_nothing(owner_client, subscribed, seats, error):
    for name in ("seats-preview", "seats-confirm"):
        response = owner_client.post(
            reverse(name, args=[subscribed.slug]), {"seats": seats}, follow=True
        )
        assert error in response.content.decode()
    subscribed.refresh_from_db()
    assert subscribed.seats_purchased == 3
    assert not PendingChange.objects.exists()


def test_monthly_to_annual_shows_now_and_after_renewal_then_schedules(owner_client, subscribed):
    page = owner_client.post(
        reverse("cycle-preview", args=[subscribed.slug]), {"cycle": "annual"}
    ).content.decode()
    assert "$54.00 per month" in page
    assert "$540.00 per year" in page and "(about $45.00 a month)" in page
    assert "Nothing is charged now." in page
    assert not PendingChange.objects.exists()

    owner_client.post(reverse("cycle-confirm", args=[subscribed.slug]), {"cycle": "annual"})
    change = PendingChange.objects.get(status="pending")
    assert change.target_cycle == "annual"
    page = _page(owner_client, subscribed)
    assert "billing switches to annual" in page and "$540.00" in page


def test_unknown_cycle_is_refused(owner_client, subscribed):
    owner_client.post(reverse("cycle-confirm", args=[subscribed.slug]), {"cycle": "weekly"})
    assert not PendingChange.objects.exists()


def test_downgrade_refused_when_usage_exceeds_the_smaller_tier(
    owner_client, stripe_world, org, owner, settings
):
    plans = copy.deepcopy(settings.SEATWISE_PLANS)
    plans["teams"]["max_seats"] = 3
    settings.SEATWISE_PLANS = plans
    org = stripe_world.subscribe(org, owner, tier="enterprise", seats=5, start=timezone.now())
    stripe_world.add_members(org, owner, 4)
    page = owner_client.post(
        reverse("plan-confirm", args=[org.slug]), {"tier": "teams"}, follow=True
    ).content.decode()
    assert (
        "You are using 5 seats; Teams allows up to 3. Remove 2 members or invitations to "
        "continue." in page
    )
    assert not PendingChange.objects.exists()


def test_upgrade_preview_then_confirm_moves_to_enterprise_now(owner_client, subscribed):
    page = owner_client.post(
        reverse("plan-preview", args=[subscribed.slug]), {"tier": "enterprise"}
    ).content.decode()
    assert "Upgrade to Enterprise" in page and "$216.00 per month" in page
    subscribed.refresh_from_db()
    assert subscribed.plan_tier == "teams"
    owner_client.post(reverse("plan-confirm", args=[subscribed.slug]), {"tier": "enterprise"})
    subscribed.refresh_from_db()
    assert subscribed.plan_tier == "enterprise"


def test_cancel_and_undo(owner_client, subscribed):
    owner_client.post(reverse("subscription-cancel", args=[subscribed.slug]))
    page = _page(owner_client, subscribed)
    assert "Ends at period end" in page and "Keep my subscription" in page
    owner_client.post(reverse("subscription-uncancel", args=[subscribed.slug]))
    subscribed.refresh_from_db()
    assert subscribed.cancel_at_period_end is False
    page = owner_client.post(
        reverse("subscription-uncancel", args=[subscribed.slug]), follow=True
    ).content.decode()
    assert "The subscription is not set to end." in page


# --- Trial and checkout -------------------------------------------------------------------


def test_trial_page_offers_checkout_with_the_defaults(owner_client, org, member):
    page = _page(owner_client, org)
    assert 'data-testid="checkout-form"' in page
    assert 'name="seats" value="2"' in page  # max(previously paid, used) with 2 in use
    assert 'data-testid="trial-banner"' in page and "13 days left" in page


def test_expired_trial_shows_the_upgrade_prompt(owner_client, org):
    Organization.objects.filter(pk=org.pk).update(trial_ends_at=timezone.now())
    page = _page(owner_client, org)
    assert "Your trial has ended." in page and "Trial ended" in page


def test_checkout_preview_shows_the_first_invoice(owner_client, org):
    page = owner_client.post(
        reverse("checkout-preview", args=[org.slug]),
        {"tier": "teams", "cycle": "monthly", "seats": "3"},
    ).content.decode()
    assert "$54.00" in page and "Continue to payment" in page


def test_checkout_below_used_is_refused_before_stripe(owner_client, org, member, billing_manager):
    response = owner_client.post(
        reverse("checkout", args=[org.slug]), {"tier": "teams", "cycle": "monthly", "seats": "2"}
    )
    assert response.status_code == 400
    assert "the plan needs at least 3 seats" in response.content.decode()


def test_checkout_redirects_to_stripe_and_the_return_url_activates_the_page(
    owner_client, stripe_world, org
):
    response = owner_client.post(
        reverse("checkout", args=[org.slug]), {"tier": "teams", "cycle": "annual", "seats": "5"}
    )
    assert response.status_code == 302
    url = response["Location"]
    assert url.startswith(stripe_world.emulator.url)
    session_id = url.rstrip("/").rsplit("/", 1)[-1]
    stripe_world.control.complete_checkout(session_id, card="4242424242424242")

    # No webhook delivered yet: the return URL alone must make the page right.
    done = reverse("checkout-done", args=[org.slug])
    page = owner_client.get(f"{done}?session_id={session_id}", follow=True).content.decode()
    assert "Thank you! The subscription is active." in page
    assert "Teams · Annual" in page and "$900.00" in page
    stripe_world.deliver()


def test_trial_page_counts_the_seats_once(owner_client, org, member):
    with CaptureQueriesContext(connection) as ctx:
        page = _page(owner_client, org)
    # The summary's count also gives the checkout form its default (2 seats in use).
    seat_counts = [q for q in ctx.captured_queries if "organizations_invitation" in q["sql"]]
    assert len(seat_counts) == 1
    assert 'name="seats" value="2"' in page


def test_the_trial_banner_and_an_empty_invoice_list_read_no_rows(
    rf, org, owner, django_assert_num_queries
):
    """The banner is on every org page a billing user sees: it reads the organization
    row the page already has, and a trial org has no invoices to look up."""
    request = rf.get("/")
    request.organization = org
    request.membership = org.memberships.get(user=owner)

    with django_assert_num_queries(0):
        trial = billing_banner(request)["trial"]
        invoices = invoices_for_organization(organization=org)

    assert (trial.status, trial.purchased, invoices) == (
        "trialing",
        settings.SEATWISE_TRIAL_SEATS,
        [],
    )


def test_a_paying_org_shows_no_trial_banner(client, subscribed, owner):
    client.force_login(owner)
    page = client.get(reverse("members", args=[subscribed.slug])).content.decode()
    assert 'data-testid="trial-banner"' not in page
