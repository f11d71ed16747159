"""Billing scenarios in the browser, against the Stripe emulator: add seats through the
preview to unblock an invite, schedule and cancel a decrease, switch to annual."""

import pytest
from django.utils import timezone

from billing.models import PendingChange
from organizations.models import Invitation
from organizations.services import invitation_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def subscribed(stripe_world, org, owner):
    return stripe_world.subscribe(org, owner, seats=3, start=timezone.now())


def test_full_org_adds_seats_after_a_preview_and_the_invite_goes_through(
    sign_in, screenshot, subscribed, owner, billing_manager, member
):
    page = sign_in(billing_manager)
    page.goto(f"/o/{subscribed.slug}/members/")
    page.fill("input[name=email]", "fourth@acme.test")
    page.get_by_role("button", name="Send invitation").click()
    assert (
        "No seats are free: 3 of 3 seats" in page.locator("[data-testid=invite-error]").inner_text()
    )

    page.get_by_role("link", name="Add seats").click()
    page.fill("[data-testid=seats-form] input[name=seats]", "4")
    live = page.locator("[data-testid=seats-live-preview]")
    live.filter(has_text="charged now").wait_for()  # the live figure, before any click
    assert "renewals then bill $72.00" in live.inner_text()
    page.get_by_role("button", name="Review change").click()
    preview = page.locator("[data-testid=preview-text]").inner_text()
    assert "You will be charged $" in preview and "now" in preview
    screenshot(page, "seat-increase-preview")
    subscribed.refresh_from_db()
    assert subscribed.seats_purchased == 3  # nothing moves before Confirm

    page.get_by_role("button", name="Confirm and pay").click()
    assert page.get_by_text("You now have 4 seats").is_visible()
    assert page.locator("[data-testid=seats-purchased]").inner_text() == "4"

    page.get_by_role("link", name="Members").click()
    page.fill("input[name=email]", "fourth@acme.test")
    page.get_by_role("button", name="Send invitation").click()
    assert page.get_by_text("Invitation sent to fourth@acme.test.").is_visible()
    assert Invitation.objects.filter(email="fourth@acme.test", status="pending").exists()


def test_decrease_is_scheduled_shown_in_the_banner_and_cancelled(
    sign_in, screenshot, subscribed, owner
):
    page = sign_in(owner)
    page.goto(f"/o/{subscribed.slug}/billing/")
    page.fill("[data-testid=seats-form] input[name=seats]", "2")
    page.get_by_role("button", name="Review change").click()
    assert (
        "Seats drop to 2 at renewal on" in page.locator("[data-testid=preview-text]").inner_text()
    )
    page.get_by_role("button", name="Confirm decrease").click()
    banner = page.locator("[data-testid=pending-banner]")
    assert "seats drop to 2" in banner.inner_text()
    screenshot(page, "pending-decrease")

    banner.get_by_role("button", name="Cancel this change").click()
    assert page.get_by_text("The pending change is cancelled").is_visible()
    assert page.locator("[data-testid=pending-banner]").count() == 0
    assert PendingChange.objects.get().status == "cancelled"


def test_switching_to_annual_shows_now_and_after_renewal_and_is_confirmed(
    sign_in, screenshot, subscribed, owner
):
    invitation_create(organization=subscribed, email="x@acme.test", actor=owner)
    page = sign_in(owner)
    page.goto(f"/o/{subscribed.slug}/billing/")
    page.get_by_role("button", name="Switch to annual billing…").click()
    assert page.locator("[data-testid=cycle-now]").inner_text() == "$54.00 per month"
    assert (
        page.locator("[data-testid=cycle-after]").inner_text()
        == "$540.00 per year (about $45.00 a month)"
    )
    screenshot(page, "cycle-confirm")
    page.get_by_role("button", name="Confirm switch").click()
    assert "billing switches to annual" in page.locator("[data-testid=pending-banner]").inner_text()
    screenshot(page, "subscription-after-switch")
    assert PendingChange.objects.get(status="pending").target_cycle == "annual"
