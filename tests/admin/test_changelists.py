"""Staff-only admin; every changelist runs the same number of queries for few and many
rows; the organization list shows plan, status, seats and drift; UTC dates."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import Drift, PendingChange
from organizations.models import Membership, Organization, OrganizationDomain
from organizations.services import (
    invitation_create,
    membership_add_staff,
    membership_remove,
    organization_create,
)
from seats.admin import LedgerPaginator
from seats.models import SeatUsageEvent
from tests.factories import UserFactory

CHANGELISTS = [
    "admin:organizations_organization_changelist",
    "admin:organizations_membership_changelist",
    "admin:organizations_invitation_changelist",
    "admin:organizations_membershipremoval_changelist",
    "admin:seats_seatusageevent_changelist",
    "admin:billing_pendingchange_changelist",
    "admin:billing_drift_changelist",
]
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def subscribed_org(*, staff, tier="teams", cycle="monthly", seats=5, status="active"):
    """An organization whose Stripe mirror says it pays, written as the sync would."""
    owner = UserFactory()
    org = organization_create(name=f"Org {owner.pk}", creator=owner)
    Organization.objects.filter(pk=org.pk).update(
        stripe_subscription_id=f"sub_{org.pk}",
        subscription_status=status,
        plan_tier=tier,
        billing_cycle=cycle,
        seats_purchased=seats,
        current_period_start=NOON,
        current_period_end=NOON + timedelta(days=31),
    )
    org.refresh_from_db()
    return org, owner


def populate(n, *, staff):
    """n organizations, each with every kind of row the changelists show."""
    for _ in range(n):
        org, owner = subscribed_org(staff=staff)
        leaver = membership_add_staff(organization=org, user=UserFactory(), actor=staff)
        membership_remove(membership=leaver, actor=staff)
        membership_add_staff(organization=org, user=UserFactory(), actor=staff)
        invitation_create(organization=org, email=f"i{org.pk}@x.test", actor=owner)
        PendingChange.objects.create(
            organization=org,
            from_quantity=5,
            from_tier="teams",
            from_cycle="monthly",
            target_quantity=3,
            target_tier="teams",
            target_cycle="annual",
            stripe_subscription_id=org.stripe_subscription_id,
            effective_at=org.current_period_end,
            created_by=owner,
            created_at=NOON,
            updated_at=NOON,
        )
        Drift.objects.create(organization=org, kind=Drift.Kind.OVER_USED, detected_at=NOON, used=3)


def queries_for(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("name", CHANGELISTS)
def test_changelist_query_count_does_not_grow_with_rows(staff_client, staff, name):
    url = reverse(name)
    populate(2, staff=staff)
    few = queries_for(staff_client, url)
    populate(20, staff=staff)
    many = queries_for(staff_client, url)
    assert few == many


@pytest.mark.parametrize("name", CHANGELISTS)
def test_admin_requires_staff(client, org, owner, name):
    url = reverse(name)
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    client.force_login(owner)  # an org owner, not staff
    signed_in = client.get(url)
    assert signed_in.status_code == 302 and "/admin/login/" in signed_in["Location"]


def test_staff_without_permissions_cannot_open_billing_records(client, org):
    client.force_login(UserFactory(is_staff=True))
    for name in CHANGELISTS:
        assert client.get(reverse(name)).status_code == 403


def row_for(response, org):
    return next(r for r in response.context["cl"].result_list if r.pk == org.pk)


def test_organization_list_shows_plan_status_seats_and_drift(staff_client, staff, org):
    paying, _ = subscribed_org(staff=staff, tier="enterprise", cycle="annual", status="past_due")
    Drift.objects.create(organization=paying, kind=Drift.Kind.OVER_USED, detected_at=NOON, used=9)
    Drift.objects.create(
        organization=org, kind=Drift.Kind.OVER_USED, detected_at=NOON, used=1, resolved_at=NOON
    )
    response = staff_client.get(reverse("admin:organizations_organization_changelist"))
    content = response.content.decode()
    assert "Enterprise annual" in content and "Past due" in content and "Trial" in content

    admin = response.context["cl"].model_admin
    paying_row, trial_row = row_for(response, paying), row_for(response, org)
    assert (admin.plan(paying_row), admin.status(paying_row), admin.drift(paying_row)) == (
        "Enterprise annual",
        "Past due",
        True,
    )
    assert (admin.plan(trial_row), admin.status(trial_row), admin.drift(trial_row)) == (
        "-",
        "Trial",
        False,  # its only drift is resolved
    )
    assert admin.purchased(paying_row) == 5


def test_drift_filter_lists_only_organizations_with_open_drift(staff_client, staff, org):
    drifting, _ = subscribed_org(staff=staff)
    Drift.objects.create(organization=drifting, kind=Drift.Kind.OVER_USED, detected_at=NOON, used=9)
    url = reverse("admin:organizations_organization_changelist")
    shown = {r.pk for r in staff_client.get(url, {"drift": "yes"}).context["cl"].result_list}
    assert shown == {drifting.pk}
    hidden = {r.pk for r in staff_client.get(url, {"drift": "no"}).context["cl"].result_list}
    assert drifting.pk not in hidden and org.pk in hidden


def test_organizations_are_found_once_by_name_or_by_any_of_their_domains(
    staff_client, org, other_org
):
    for domain in ("acme.test", "mail.acme.test"):
        OrganizationDomain.objects.create(organization=org, domain=domain, created_at=NOON)
    url = reverse("admin:organizations_organization_changelist")

    def found(q: str) -> list[int]:
        response = staff_client.get(url, {"q": q})
        assert response.status_code == 200
        return [row.pk for row in response.context["cl"].result_list]

    assert found("acme.test") == [org.pk]  # two matching domains, one row
    assert found("ELSEWHERE") == [other_org.pk]
    assert found(f"{org.slug} mail.acme") == [org.pk]  # every word must match
    assert found(f"{other_org.slug} acme.test") == []
    assert found('"acme.test"') == [org.pk]
    assert found('"') == []  # a lone quote is searched for, not unquoted to "" (which matches all)


def test_admin_shows_utc_even_with_a_browser_timezone(staff_client, org):
    Drift.objects.create(organization=org, kind=Drift.Kind.OVER_USED, detected_at=NOON, used=1)
    staff_client.cookies["tz"] = "America/New_York"
    content = staff_client.get(reverse("admin:billing_drift_changelist")).content.decode()
    assert "March 1, 2026, noon" in content or "Mar. 1, 2026, noon" in content
    assert "7 a.m." not in content


def test_ledger_tombstones_pending_changes_and_drift_are_read_only(staff_client, staff, org):
    populate(1, staff=staff)
    for model, obj in [
        ("seats_seatusageevent", SeatUsageEvent.objects.first()),
        ("organizations_membershipremoval", org.removals.model.objects.first()),
        ("billing_pendingchange", PendingChange.objects.first()),
        ("billing_drift", Drift.objects.first()),
    ]:
        assert staff_client.get(reverse(f"admin:{model}_add")).status_code == 403
        delete = reverse(f"admin:{model}_delete", args=[obj.pk])
        assert staff_client.post(delete, {"post": "yes"}).status_code == 403
        change = staff_client.get(reverse(f"admin:{model}_change", args=[obj.pk]))
        assert change.status_code == 200 and not change.context["has_change_permission"]
    assert SeatUsageEvent.objects.exists() and Membership.objects.exists()


def ledger_total_and_queries(client) -> tuple[int, int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("admin:seats_seatusageevent_changelist"))
    paginator = response.content.decode().split('<p class="paginator">')[1].split("</p>")[0]
    return (
        response.context["cl"].result_count,
        len(ctx.captured_queries),
        " ".join(paginator.split()),
    )


def test_a_large_ledgers_total_is_postgresqls_estimate_in_as_many_queries(
    staff_client, staff, monkeypatch
):
    populate(2, staff=staff)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {SeatUsageEvent._meta.db_table}")
    analyzed = SeatUsageEvent.objects.count()
    populate(3, staff=staff)  # rows the estimate has not seen yet

    exact, exact_queries, exact_text = ledger_total_and_queries(staff_client)
    monkeypatch.setattr(LedgerPaginator, "ESTIMATE_ABOVE", 1)
    estimated, estimated_queries, estimated_text = ledger_total_and_queries(staff_client)

    assert (exact, estimated) == (SeatUsageEvent.objects.count(), analyzed)
    assert estimated_queries == exact_queries
    # The page says which total is which.
    assert exact_text == f"{exact} seat usage events"
    assert estimated_text == f"about {analyzed} seat usage events"


def test_a_searched_or_filtered_ledger_is_counted_exactly(staff_client, staff, monkeypatch):
    populate(2, staff=staff)
    monkeypatch.setattr(LedgerPaginator, "ESTIMATE_ABOVE", 0)  # any estimate would do
    url = reverse("admin:seats_seatusageevent_changelist")
    org = Organization.objects.exclude(seat_events=None).latest("pk")

    searched = staff_client.get(url, {"q": org.slug}).context["cl"]
    filtered = staff_client.get(url, {"cause__exact": "removed"}).context["cl"]

    matching = Q(organization__name__icontains=org.slug) | Q(organization__slug__icontains=org.slug)
    assert searched.result_count == SeatUsageEvent.objects.filter(matching).count() > 0
    assert filtered.result_count == SeatUsageEvent.objects.filter(cause="removed").count() == 2
