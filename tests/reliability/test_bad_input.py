"""Generated bad input against the services: seat counts, emails, roles, tokens, trial
days and plan names. Every refusal is a ``ValidationError`` (or ``NotAllowed``) with a
message for people, and it changes nothing: the row counts, the ledger, the orgs'
fields and Stripe (no write request reached the emulator) are as before.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing import services as billing
from billing.models import Drift, PendingChange
from organizations.exceptions import NotAllowed
from organizations.models import (
    Invitation,
    Membership,
    MembershipRemoval,
    Organization,
    Role,
)
from organizations.services import (
    invitation_accept,
    invitation_create,
    membership_role_change,
)
from seats.models import SeatUsageEvent
from tests.reliability.conftest import client_for

FAST = hsettings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
LONG = hsettings(FAST, max_examples=400)

REFUSED = (ValidationError, NotAllowed)


def snapshot(emulator=None) -> tuple:
    """Everything bad input must leave alone."""
    stripe_writes = (
        len([r for r in emulator.control.requests() if r["method"] != "GET"]) if emulator else 0
    )
    return (
        Membership.objects.count(),
        Invitation.objects.count(),
        MembershipRemoval.objects.count(),
        PendingChange.objects.count(),
        Drift.objects.count(),
        list(SeatUsageEvent.objects.order_by("pk").values_list("pk", "count", "delta", "actor")),
        list(Membership.objects.order_by("pk").values_list("pk", "role")),
        list(Invitation.objects.order_by("pk").values_list("pk", "status", "expires_at")),
        list(Organization.objects.order_by("pk").values()),
        stripe_writes,
    )


def assert_refused_and_unchanged(call, *, emulator=None, tally=None) -> ValidationError:
    before = snapshot(emulator)
    with pytest.raises(REFUSED) as refused:
        call()
    assert snapshot(emulator) == before
    message = " ".join(getattr(refused.value, "messages", [str(refused.value)]))
    assert message.strip(), "a refusal must say why"
    if tally is not None:
        tally.add("inputs generated")
    return refused.value


# --- Seat counts --------------------------------------------------------------------------


def bad_seats(used: int):
    return st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=billing.MAX_SEATS + 1),
        st.integers(min_value=1, max_value=max(used - 1, 1)).filter(lambda n: n < used),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.none(),
        st.text(max_size=12).filter(lambda s: not (s.strip().isascii() and s.strip().isdigit())),
        st.integers(max_value=0).map(str),
        st.integers(min_value=billing.MAX_SEATS + 1, max_value=10**30).map(str),
        st.sampled_from(["1e3", "0x10", "3.0", " 4 5", "+3", "-0", "\u0663", "\u00b2", "\uff13"]),
    )


@pytest.fixture
def subscribed(stripe_world, org, owner, billing_manager, member):
    org = stripe_world.subscribe(org, owner, seats=5)
    assert org.seats_purchased == 5
    return org


def _seat_change_refused(org, billing_manager, stripe_world, tally, seats):
    org.refresh_from_db()
    assert_refused_and_unchanged(
        lambda: billing.seats_change(organization=org, actor=billing_manager, seats=seats),
        emulator=stripe_world.emulator,
        tally=tally,
    )
    assert_refused_and_unchanged(
        lambda: billing.seat_change_preview(organization=org, actor=billing_manager, seats=seats),
        emulator=stripe_world.emulator,
        tally=tally,
    )


# org has 3 members (owner, billing manager, member): anything below 3 is "below used".
@FAST
@given(seats=bad_seats(used=3))
@example(seats="\u00b2")  # str.isdigit() is true for it, int() is not
@example(seats=2)
def test_bad_seat_counts_are_refused_and_change_nothing(
    subscribed, billing_manager, stripe_world, tally, seats
):
    _seat_change_refused(subscribed, billing_manager, stripe_world, tally, seats)


@pytest.mark.slow
@pytest.mark.timeout(900)
@LONG
@given(seats=bad_seats(used=3))
def test_bad_seat_counts_long(subscribed, billing_manager, stripe_world, tally, seats):
    _seat_change_refused(subscribed, billing_manager, stripe_world, tally, seats)


@FAST
@given(
    seats=st.integers(min_value=1, max_value=50) | st.integers(min_value=1, max_value=50).map(str)
)
def test_a_member_can_never_change_seats(subscribed, member, stripe_world, tally, seats):
    assert_refused_and_unchanged(
        lambda: billing.seats_change(organization=subscribed, actor=member, seats=seats),
        emulator=stripe_world.emulator,
        tally=tally,
    )


@FAST
@given(
    cycle=st.text(max_size=12).filter(lambda c: c not in ("monthly", "annual")),
    tier=st.text(max_size=12).filter(lambda t: t not in ("teams", "enterprise")),
)
def test_unknown_cycles_and_tiers_are_refused(
    subscribed, billing_manager, stripe_world, tally, cycle, tier
):
    assert_refused_and_unchanged(
        lambda: billing.cycle_change_schedule(
            organization=subscribed, actor=billing_manager, cycle=cycle
        ),
        emulator=stripe_world.emulator,
        tally=tally,
    )
    assert_refused_and_unchanged(
        lambda: billing.plan_change(organization=subscribed, actor=billing_manager, tier=tier),
        emulator=stripe_world.emulator,
        tally=tally,
    )


# --- Trial days (dates) -------------------------------------------------------------------


@FAST
@given(
    days=st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=366),
        st.floats(),
        st.booleans(),
        st.none(),
        st.text(max_size=6),
    )
)
def test_bad_trial_extensions_are_refused(org, staff, tally, days):
    assert_refused_and_unchanged(
        lambda: billing.trial_extend(organization=org, actor=staff, days=days), tally=tally
    )


# --- Emails, roles, tokens ------------------------------------------------------------------

bad_emails = st.one_of(
    st.text(max_size=30).filter(lambda s: "@" not in s or s.count("@") > 1),
    st.sampled_from(
        [
            *("", " ", "a@", "@b.test", "a@b", "a b@c.test", "a@b..test", "<a@b.test>"),
            "a@b.test\nBcc: x@y.test",
        ]
    ),
    st.none(),
    st.integers(),
)
bad_roles = st.one_of(
    st.text(max_size=20).filter(lambda r: r not in Role.values),
    st.sampled_from(["OWNER", "Owner", " owner", "admin", "staff", "superuser"]),
    st.none(),
    st.integers(),
)


@FAST
@given(email=bad_emails)
def test_invitations_to_bad_emails_are_refused(org, owner, member, tally, email):
    assert_refused_and_unchanged(
        lambda: invitation_create(organization=org, email=email, actor=owner), tally=tally
    )


@FAST
@given(role=bad_roles)
def test_invitations_and_role_changes_with_bad_roles_are_refused(org, owner, member, tally, role):
    assert_refused_and_unchanged(
        lambda: invitation_create(organization=org, email="new@acme.test", role=role, actor=owner),
        tally=tally,
    )
    membership = Membership.objects.get(organization=org, user=member)
    assert_refused_and_unchanged(
        lambda: membership_role_change(membership=membership, role=role, actor=owner),
        tally=tally,
    )


@pytest.fixture
def real_invitation(org, owner):
    # A genuine pending invitation exists, so a forged token has something to hit.
    return invitation_create(organization=org, email="real@acme.test", actor=owner)


@FAST
@given(
    token=st.one_of(
        st.text(max_size=64),
        st.from_regex(r"\A[A-Za-z0-9_-]{43}\Z"),  # the shape of a real token
        st.none(),
        st.binary(max_size=16),
    )
)
def test_forged_invitation_tokens_are_refused(real_invitation, outsider, tally, token):
    assert_refused_and_unchanged(lambda: invitation_accept(token=token, user=outsider), tally=tally)


def test_the_default_examples_stay_bounded():
    # The default run must stay quick on a 2-core machine; the long twins are `slow`.
    assert FAST.max_examples <= 50 < LONG.max_examples
    assert settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


# --- Through the forms (pages) ---------------------------------------------------------

form_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["-1", "0", "10001", "1e3", "3.5", " ", "\u00b2", "2; DROP TABLE x"]),
)


@hsettings(FAST, max_examples=20)  # each example renders three pages
@given(seats=form_text.filter(lambda s: not (s.strip().isascii() and s.strip().isdigit())))
def test_the_seat_forms_refuse_bad_counts_and_change_nothing(
    subscribed, billing_manager, stripe_world, tally, seats
):
    client = client_for(billing_manager)
    before = snapshot(stripe_world.emulator)
    for name, method in (
        ("seats-preview", "post"),
        ("seats-confirm", "post"),
        ("seats-preview-live", "get"),
    ):
        url = reverse(name, args=[subscribed.slug])
        response = getattr(client, method)(url, {"seats": seats})
        tally.add("inputs generated")
        assert response.status_code in (302, 400), (name, response.status_code)
    assert snapshot(stripe_world.emulator) == before


@FAST
@given(email=bad_emails.filter(lambda e: isinstance(e, str)), role=st.text(max_size=12))
def test_the_invite_form_refuses_bad_input_and_changes_nothing(org, owner, tally, email, role):
    before = snapshot()
    response = client_for(owner).post(
        reverse("invite", args=[org.slug]), {"email": email, "role": role}
    )
    tally.add("inputs generated")
    assert response.status_code == 400
    assert snapshot() == before
