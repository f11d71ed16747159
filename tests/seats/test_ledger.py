"""The seat ledger: one row per way in or out (SCENARIOS 8), append-only in the ORM and
in PostgreSQL, and the baseline backfill (SCENARIOS 7)."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from organizations.models import Membership, OrganizationDomain, Role
from organizations.services import (
    invitation_accept,
    invitation_create,
    invitation_resend,
    invitation_revoke,
    membership_add_direct,
    membership_add_staff,
    membership_join_by_domain,
    membership_leave,
    membership_remove,
    organization_create,
    organization_delete,
    organization_domain_add,
    organization_domain_verify,
    user_erase,
)
from seats.models import Cause, LedgerImmutable, SeatUsageEvent
from seats.services import seat_baseline_backfill, seat_event_record
from tests.factories import OrganizationFactory, UserFactory


def events(org):
    return list(SeatUsageEvent.objects.filter(organization=org).order_by("id"))


def run_sql(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def new_rows(org, before):
    return events(org)[before:]


def test_creator_at_signup_writes_one_plus_one_row(owner):
    org = organization_create(name="Fresh", creator=owner)
    [row] = events(org)
    assert (row.count, row.delta, row.cause, row.actor) == (1, 1, Cause.JOINED, owner)
    assert row.membership_id == Membership.objects.get(organization=org, user=owner).pk


def test_invitation_accept_writes_one_plus_one_row(org, owner):
    before = len(events(org))
    invitation, token = invitation_create(organization=org, email="new@acme.test", actor=owner)
    invitation_resend(invitation=invitation, actor=owner)  # rotates; still no row
    invitation, token = invitation_resend(invitation=invitation, actor=owner)
    assert len(events(org)) == before
    joiner = UserFactory(email="new@acme.test")
    membership = invitation_accept(token=token, user=joiner)
    [row] = new_rows(org, before)
    assert (row.count, row.delta, row.cause, row.actor) == (2, 1, Cause.JOINED, joiner)
    assert row.membership_id == membership.pk


def test_invitation_create_and_revoke_write_no_rows(org, owner):
    before = len(events(org))
    invitation, _ = invitation_create(organization=org, email="x@acme.test", actor=owner)
    invitation_revoke(invitation=invitation, actor=owner)
    assert len(events(org)) == before


def test_domain_auto_join_writes_one_plus_one_row(org, owner, staff):
    domain = organization_domain_add(organization=org, domain="acme.test", actor=owner)
    organization_domain_verify(domain=domain, actor=staff)
    before = len(events(org))
    joiner = UserFactory(email="dana@acme.test")
    membership = membership_join_by_domain(user=joiner, verified_email="dana@acme.test")
    assert membership.joined_via == "domain"
    [row] = new_rows(org, before)
    assert (row.count, row.delta, row.cause) == (2, 1, Cause.JOINED)
    # Confirming the address again is a no-op, not a second seat.
    assert membership_join_by_domain(user=joiner, verified_email="dana@acme.test") is None
    assert len(new_rows(org, before)) == 1


def test_staff_add_writes_one_plus_one_row(org, staff):
    before = len(events(org))
    membership_add_staff(organization=org, user=UserFactory(), actor=staff)
    [row] = new_rows(org, before)
    assert (row.count, row.delta, row.actor) == (2, 1, staff)


def test_api_direct_add_writes_one_plus_one_row(org, owner):
    before = len(events(org))
    membership = membership_add_direct(organization=org, user=UserFactory(), actor=owner)
    assert membership.joined_via == "api"
    [row] = new_rows(org, before)
    assert (row.count, row.delta, row.cause) == (2, 1, Cause.JOINED)


def test_remove_writes_one_minus_one_row(org, owner, member):
    before = len(events(org))
    membership_remove(membership=Membership.objects.get(user=member), actor=owner)
    [row] = new_rows(org, before)
    assert (row.count, row.delta, row.cause, row.actor) == (1, -1, Cause.REMOVED, owner)


def test_leave_writes_one_minus_one_row(org, member):
    before = len(events(org))
    membership_leave(membership=Membership.objects.get(user=member), actor=member)
    [row] = new_rows(org, before)
    assert (row.count, row.delta, row.cause) == (1, -1, Cause.LEFT)


def test_erase_writes_one_minus_one_row_per_membership(org, member, other_org, outsider, staff):
    membership_add_direct(organization=other_org, user=member, actor=outsider)
    before_acme, before_other = len(events(org)), len(events(other_org))
    user_erase(user=member, actor=staff)
    [acme_row] = new_rows(org, before_acme)
    [other_row] = new_rows(other_org, before_other)
    assert (acme_row.count, acme_row.delta, acme_row.cause) == (1, -1, Cause.ERASED)
    assert (other_row.count, other_row.delta, other_row.cause) == (1, -1, Cause.ERASED)


def test_org_delete_writes_one_minus_one_row_per_member(org, owner, member, billing_manager):
    before = len(events(org))
    organization_delete(organization=org, actor=owner)
    rows = new_rows(org, before)
    assert [(r.count, r.delta, r.cause) for r in rows] == [
        (2, -1, Cause.ORG_DELETED),
        (1, -1, Cause.ORG_DELETED),
        (0, -1, Cause.ORG_DELETED),
    ]


def test_role_change_writes_no_row(org, owner, member):
    from organizations.services import membership_role_change

    before = len(events(org))
    membership_role_change(
        membership=Membership.objects.get(user=member), role=Role.BILLING_MANAGER, actor=owner
    )
    assert len(events(org)) == before


def test_every_count_matches_replayed_deltas_after_mixed_changes(org, owner, member):
    extra = UserFactory()
    membership_add_direct(organization=org, user=extra, actor=owner)
    membership_remove(membership=Membership.objects.get(user=member), actor=owner)
    membership_leave(membership=Membership.objects.get(user=extra), actor=extra)
    running = 0
    for row in events(org):
        running += row.delta
        assert row.count == running
    assert running == Membership.objects.filter(organization=org).count() == 1


# --- Append-only ------------------------------------------------------------------------


def test_orm_refuses_to_update_a_ledger_row(org):
    row = events(org)[0]
    row.count = 99
    with pytest.raises(LedgerImmutable):
        row.save()
    with pytest.raises(LedgerImmutable):
        SeatUsageEvent.objects.filter(pk=row.pk).update(count=99)
    # bulk_update's own atomic block has no savepoint; give it one.
    with pytest.raises(LedgerImmutable), transaction.atomic():
        SeatUsageEvent.objects.bulk_update([row], ["count"])
    assert SeatUsageEvent.objects.get(pk=row.pk).count == 1


def test_orm_refuses_to_delete_a_ledger_row(org):
    row = events(org)[0]
    with pytest.raises(LedgerImmutable):
        row.delete()
    with pytest.raises(LedgerImmutable):
        SeatUsageEvent.objects.filter(organization=org).delete()
    assert SeatUsageEvent.objects.filter(pk=row.pk).exists()


def test_database_refuses_raw_update_of_a_ledger_row(org):
    row = events(org)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        run_sql("UPDATE seats_seatusageevent SET count = 99 WHERE id = %s", [row.pk])
    assert SeatUsageEvent.objects.get(pk=row.pk).count == 1


def test_database_refuses_raw_delete_of_a_ledger_row(org):
    row = events(org)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        run_sql("DELETE FROM seats_seatusageevent WHERE id = %s", [row.pk])
    assert SeatUsageEvent.objects.filter(pk=row.pk).exists()


def test_database_refuses_raw_update_that_nulls_actor_and_changes_more(org):
    row = events(org)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        run_sql(
            "UPDATE seats_seatusageevent SET actor_id = NULL, delta = -1 WHERE id = %s",
            [row.pk],
        )
    assert SeatUsageEvent.objects.get(pk=row.pk).actor_id is not None


def test_database_allows_only_nulling_the_actor(org, owner):
    row = events(org)[0]
    run_sql("UPDATE seats_seatusageevent SET actor_id = NULL WHERE id = %s", [row.pk])
    row = SeatUsageEvent.objects.get(pk=row.pk)
    assert (row.actor_id, row.count, row.delta) == (None, 1, 1)


@pytest.mark.django_db(transaction=True)
def test_seat_event_record_refuses_to_run_outside_a_transaction(org, owner):
    with pytest.raises(RuntimeError, match="inside the membership transaction"):
        seat_event_record(
            organization=org,
            delta=1,
            cause=Cause.JOINED,
            membership_id=None,
            actor=owner,
            now=timezone.now(),
        )


def test_recorded_row_is_the_stored_row_and_cannot_be_saved_again(org, owner):
    now = timezone.now()
    with transaction.atomic():
        Membership.objects.create(
            organization=org, user=UserFactory(), role=Role.MEMBER, created_at=now
        )
        row = seat_event_record(
            organization=org,
            delta=1,
            cause=Cause.JOINED,
            membership_id=None,
            actor=owner,
            now=now,
        )
    stored = SeatUsageEvent.objects.get(pk=row.pk)
    assert (stored.count, stored.delta, stored.cause, stored.actor_id, stored.created_at) == (
        row.count,
        row.delta,
        row.cause,
        owner.pk,
        now,
    )
    assert stored.count == Membership.objects.filter(organization=org).count() == 2
    with pytest.raises(LedgerImmutable):
        row.save()


def test_a_membership_written_behind_the_chokepoint_is_logged_as_drift(org, owner, caplog):
    """The row states the true count; the warning names the gap for reconciliation."""
    Membership.objects.create(
        organization=org, user=UserFactory(), role=Role.MEMBER, created_at=timezone.now()
    )
    membership_add_direct(organization=org, user=UserFactory(), actor=owner)
    assert events(org)[-1].count == 3
    assert "Seat ledger drift for organization" in caplog.text
    assert "1+1 != 3" in caplog.text


# --- Baseline backfill ---------------------------------------------------------------


def test_backfill_writes_one_baseline_row_per_org_without_ledger(org):
    legacy = OrganizationFactory()
    # A legacy org that predates the ledger: its members were written directly.
    for _ in range(3):
        Membership.objects.create(
            organization=legacy,
            user=UserFactory(),
            role=Role.MEMBER,
            joined_via="staff",
            created_at=timezone.now(),
        )
    empty = OrganizationFactory()
    before_acme = len(events(org))

    assert seat_baseline_backfill() == 2

    [legacy_row] = events(legacy)
    assert (legacy_row.count, legacy_row.delta, legacy_row.cause) == (3, 3, Cause.BASELINE)
    [empty_row] = events(empty)
    assert (empty_row.count, empty_row.cause) == (0, Cause.BASELINE)
    assert len(events(org)) == before_acme


def test_backfill_twice_writes_nothing_the_second_time(db):
    OrganizationFactory()
    call_command("seats_backfill_baseline", verbosity=0)
    total = SeatUsageEvent.objects.count()
    assert seat_baseline_backfill() == 0
    call_command("seats_backfill_baseline", verbosity=0)
    assert SeatUsageEvent.objects.count() == total == 1


def test_backfill_skips_deleted_orgs(db):
    OrganizationFactory(deleted_at=timezone.now() - timedelta(days=1))
    assert seat_baseline_backfill() == 0


def test_domain_claim_alone_admits_nobody(org, owner):
    OrganizationDomain.objects.create(
        organization=org, domain="acme.test", created_at=timezone.now()
    )
    joiner = UserFactory(email="eve@acme.test")
    assert membership_join_by_domain(user=joiner, verified_email="eve@acme.test") is None
    assert not Membership.objects.filter(user=joiner).exists()
