"""Browser scenarios that need no Stripe: a member sees no billing controls, the usage
report renders its chart and exports CSV, and inviting until the org is full shows the
refusal with a way to add seats."""

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from organizations.models import Invitation, Membership
from organizations.services import membership_add_direct, membership_remove, organization_create
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_sees_no_billing_controls(sign_in, screenshot, org, member):
    page = sign_in(member)
    page.goto(f"/o/{org.slug}/members/")
    screenshot(page, "member-view")
    assert page.get_by_role("link", name="Members").is_visible()
    assert page.get_by_role("link", name="Subscription").count() == 0
    assert page.get_by_role("link", name="Usage").count() == 0
    assert page.locator("[data-testid=invite-form]").count() == 0
    assert page.locator("[data-testid=trial-banner]").count() == 0
    assert page.get_by_role("button", name="Remove").count() == 0

    response = page.goto(f"/o/{org.slug}/billing/")
    assert response.status == 403
    assert "Only owners and billing managers" in page.content()


def test_usage_report_renders_its_chart_and_exports_csv(sign_in, screenshot, owner):
    start = timezone.now() - timedelta(days=70)
    org = organization_create(name="Chart Co", creator=owner, now=start)
    people = [UserFactory() for _ in range(3)]
    for i, person in enumerate(people):
        membership_add_direct(
            organization=org, user=person, actor=owner, now=start + timedelta(days=2 + i)
        )
    membership_remove(
        membership=Membership.objects.get(organization=org, user=people[0]),
        actor=owner,
        now=start + timedelta(days=35),
    )

    page = sign_in(owner)
    page.goto("/")  # their only organization: straight to its members page
    page.get_by_role("link", name="Usage").click()
    chart = page.locator("[data-testid=usage-chart]")
    assert chart.is_visible()
    assert chart.locator("rect").count() == 3  # two completed months and the current one
    assert chart.locator("g.in-progress").count() == 1
    assert page.locator("[data-testid=usage-table] tr.in-progress").count() == 1
    screenshot(page, "usage")

    with page.expect_download() as download_info:
        page.locator("[data-testid=export-csv]").click()
    download = download_info.value
    assert download.suggested_filename == "chart-co-seat-usage.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    # Completed months only; the second starts with 4 carried in before the removal.
    assert [row["peak"] for row in rows] == ["4", "4"]


def test_inviting_until_full_shows_the_refusal_and_a_link_to_add_seats(
    sign_in, screenshot, org, billing_manager, member
):
    page = sign_in(billing_manager)
    page.goto(f"/o/{org.slug}/members/")
    # The trial holds 5 seats; the owner, the billing manager and the member use 3.
    for email in ["one@acme.test", "two@acme.test"]:
        page.fill("input[name=email]", email)
        page.get_by_role("button", name="Send invitation").click()
        assert page.get_by_text(f"Invitation sent to {email}.").is_visible()
    assert "5 of 5 seats used" in page.locator("[data-testid=seat-bar]").inner_text()

    page.fill("input[name=email]", "three@acme.test")
    page.get_by_role("button", name="Send invitation").click()
    error = page.locator("[data-testid=invite-error]")
    assert "No seats are free: 5 of 5 seats are in use." in error.inner_text()
    assert error.get_by_role("link", name="Add seats").is_visible()
    screenshot(page, "invite-refused")
    assert not Invitation.objects.filter(email="three@acme.test").exists()
