"""Admin actions call the billing services against the Stripe emulator and report each
row's outcome; Stripe failures and refusals become messages, never a 500."""

from datetime import timedelta

import pytest
from django.urls import reverse

from billing import services
from billing.models import Drift, PendingChange
from organizations.models import Organization
from organizations.services import organization_create
from tests.admin.conftest import run_action
from tests.factories import UserFactory

ORGS = "organizations_organization"


@pytest.fixture
def paying(org, owner, stripe_world):
    return stripe_world.subscribe(org, owner, tier="teams", cycle="monthly", seats=4)


def test_resync_restores_the_mirror_from_stripe(staff_client, paying):
    Organization.objects.filter(pk=paying.pk).update(seats_purchased=99, plan_tier="enterprise")
    response, shown = run_action(staff_client, ORGS, "resync_from_stripe", [paying])
    assert response.status_code == 200
    assert shown == [("success", "Acme: synced: Active, 4 seats paid.")]
    paying.refresh_from_db()
    assert (paying.seats_purchased, paying.plan_tier) == (4, "teams")


def test_resync_reports_each_row_and_a_stripe_refusal_does_not_stop_the_rest(
    staff_client, paying, stripe_world
):
    broken = organization_create(name="Broken", creator=UserFactory())
    Organization.objects.filter(pk=broken.pk).update(stripe_subscription_id="sub_missing")
    trial = organization_create(name="Trial Co", creator=UserFactory())
    response, shown = run_action(staff_client, ORGS, "resync_from_stripe", [paying, broken, trial])
    assert response.status_code == 200
    by_org = {text.split(":", 1)[0]: (level, text) for level, text in shown}
    assert by_org["Acme"][0] == "success"
    assert by_org["Broken"][0] == "error" and "Stripe:" in by_org["Broken"][1]
    assert "sub_missing" in by_org["Broken"][1]
    assert by_org["Trial Co"] == (
        "success",
        "Trial Co: no subscription at Stripe; nothing to sync.",
    )


def test_resync_during_a_stripe_outage_is_a_message(staff_client, paying, stripe_world):
    stripe_world.control.set_faults(fail_next=20, status=503)
    try:
        response, shown = run_action(staff_client, ORGS, "resync_from_stripe", [paying])
    finally:
        stripe_world.control.clear_faults()
    assert response.status_code == 200
    [(level, text)] = shown
    assert level == "error" and "Stripe is not answering" in text


def test_extend_trial_asks_for_days_then_extends(staff_client, org):
    before = org.trial_ends_at
    page = staff_client.post(
        reverse(f"admin:{ORGS}_changelist"),
        {"action": "extend_trial", "_selected_action": [org.pk]},
    )
    assert page.status_code == 200
    assert b'name="days"' in page.content and b"Acme" in page.content

    _, shown = run_action(staff_client, ORGS, "extend_trial", [org], apply="1", days="7")
    org.refresh_from_db()
    assert org.trial_ends_at == before + timedelta(days=7)
    assert shown and shown[0][0] == "success" and "trial now ends" in shown[0][1]


@pytest.mark.parametrize("days", ["", "abc", "0", "-3", "366", "9" * 40, "1.5"])
def test_extend_trial_refuses_bad_days_and_changes_nothing(staff_client, org, days):
    before = org.trial_ends_at
    response = staff_client.post(
        reverse(f"admin:{ORGS}_changelist"),
        {"action": "extend_trial", "_selected_action": [org.pk], "apply": "1", "days": days},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["days"]
    org.refresh_from_db()
    assert org.trial_ends_at == before


def test_extend_trial_refuses_a_subscribed_organization(staff_client, paying):
    before = paying.trial_ends_at
    _, shown = run_action(staff_client, ORGS, "extend_trial", [paying], apply="1", days="7")
    assert shown == [
        ("error", "Acme: This organization has a subscription; there is no trial to extend.")
    ]
    paying.refresh_from_db()
    assert paying.trial_ends_at == before


def test_renew_now_applies_the_pending_decrease(staff_client, paying, owner, stripe_world):
    services.seats_decrease_schedule(
        organization=paying, actor=owner, seats=2, now=stripe_world.now(paying)
    )
    old_end = paying.current_period_end
    _, shown = run_action(staff_client, ORGS, "renew_now", [paying])
    [(level, text)] = shown
    assert level == "success" and "pending change applied" in text, text
    paying.refresh_from_db()
    assert paying.seats_purchased == 2
    assert paying.current_period_end > old_end
    assert PendingChange.objects.get(organization=paying).status == PendingChange.Status.APPLIED


def test_renew_now_refuses_an_organization_without_a_test_clock(staff_client, org):
    _, shown = run_action(staff_client, ORGS, "renew_now", [org])
    assert shown == [
        (
            "error",
            "Acme: Only a test-mode subscription with a test clock can be renewed on demand.",
        )
    ]


def test_reconcile_opens_drift_that_the_list_flags_and_repair_closes(
    staff_client, paying, stripe_world
):
    Organization.objects.filter(pk=paying.pk).update(seats_purchased=9)
    _, shown = run_action(staff_client, ORGS, "reconcile_now", [paying])
    assert shown == [("success", "Acme: drift: App says 9, Stripe says 4.")]
    drift = Drift.objects.get(organization=paying, resolved_at__isnull=True)
    assert drift.kind == Drift.Kind.PURCHASED_MISMATCH

    listing = staff_client.get(reverse(f"admin:{ORGS}_changelist"))
    row = next(r for r in listing.context["cl"].result_list if r.pk == paying.pk)
    assert row.has_open_drift

    _, shown = run_action(staff_client, "billing_drift", "repair", [drift])
    assert shown == [("success", "Acme: Repaired.")]
    drift.refresh_from_db()
    assert drift.resolved_at is not None
    paying.refresh_from_db()
    assert paying.seats_purchased == 4


def test_pending_change_apply_now_reports_a_stripe_failure(
    staff_client, paying, owner, stripe_world
):
    change = services.seats_decrease_schedule(
        organization=paying, actor=owner, seats=2, now=stripe_world.now(paying)
    )
    stripe_world.control.set_faults(fail_next=20, status=500)
    try:
        response, shown = run_action(staff_client, "billing_pendingchange", "apply_now", [change])
    finally:
        stripe_world.control.clear_faults()
    assert response.status_code == 200
    [(level, text)] = shown
    assert level == "error" and text.startswith("Acme: Stripe:")
    change.refresh_from_db()
    assert (change.status, change.scheduled_at) == (PendingChange.Status.PENDING, None)


def test_pending_change_apply_now_writes_the_schedule(staff_client, paying, owner, stripe_world):
    change = services.seats_decrease_schedule(
        organization=paying, actor=owner, seats=2, now=stripe_world.now(paying)
    )
    _, shown = run_action(staff_client, "billing_pendingchange", "apply_now", [change])
    # Before the renewal Stripe has nothing to confirm yet: scheduled, then waiting.
    assert shown == [("success", "Acme: scheduled, then waiting.")]
    change.refresh_from_db()
    assert change.scheduled_at is not None and change.stripe_schedule_id


def test_change_page_shows_the_billing_summary(staff_client, paying, owner, stripe_world):
    services.seats_decrease_schedule(
        organization=paying, actor=owner, seats=2, now=stripe_world.now(paying)
    )
    page = staff_client.get(reverse(f"admin:{ORGS}_change", args=[paying.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Active · Teams monthly · 4 purchased, 1 used, 2 at renewal" in text
    assert "next invoice: $36.00 on" in text and "pending change: 4 → 2 seats" in text
