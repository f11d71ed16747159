"""The demo seed: the people, seats and history ``make run`` promises, and idempotence."""

from django.contrib.auth import get_user_model
from django.core.management import call_command

from organizations.demo import DEMO_PASSWORD
from organizations.models import Invitation, Membership, MembershipRemoval, Organization, Role
from seats.models import SeatUsageEvent
from seats.selectors import seat_summary, usage_report


def snapshot():
    return [
        m.objects.count()
        for m in (get_user_model(), Organization, Membership, Invitation, MembershipRemoval)
    ] + [SeatUsageEvent.objects.count()]


def test_seed_demo_creates_acme_with_free_seats_and_history(db, capsys):
    call_command("seed_demo")
    org = Organization.objects.get(name="Acme Analytics")
    roles = dict(Membership.objects.filter(organization=org).values_list("user__email", "role"))
    assert roles == {
        "owner@acme.test": Role.OWNER,
        "billing@acme.test": Role.BILLING_MANAGER,
        "ana@acme.test": Role.MEMBER,
        "ben@acme.test": Role.MEMBER,
        "chloe@acme.test": Role.MEMBER,
    }
    summary = seat_summary(organization=org)
    assert (summary.members, summary.pending_invites, summary.purchased) == (5, 1, 8)
    assert summary.free == 2
    report = usage_report(organization=org)
    assert len(report) >= 4 and all(m.peak is not None for m in report)
    assert max(m.peak for m in report) == 6  # Dan and Eve overlapped before leaving
    admin = get_user_model().objects.get(username="admin@acme.test")
    assert admin.is_staff and admin.is_superuser and admin.check_password(DEMO_PASSWORD)
    assert "Seeded Acme Analytics: 6 of 8 seats used" in capsys.readouterr().out


def test_seed_demo_twice_changes_nothing(db, capsys):
    call_command("seed_demo")
    before = snapshot()
    call_command("seed_demo")
    assert snapshot() == before
    assert "nothing changed" in capsys.readouterr().out


def test_demo_logins_lists_the_accounts(db, capsys):
    call_command("demo_logins")
    assert "run `manage.py seed_demo` first" in capsys.readouterr().out
    call_command("seed_demo")
    capsys.readouterr()
    call_command("demo_logins")
    out = capsys.readouterr().out
    assert "password for all: seatwise-demo" in out
    assert "owner@acme.test" in out and "admin@acme.test" in out
