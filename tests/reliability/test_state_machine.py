"""A hypothesis state machine over one organization's life, on PostgreSQL with the
emulator and its test clock: joins, invitations and accepts, removals, role changes,
seat increases and decreases, cycle switches, cancellation and undo, and renewals.

Every step runs at the test clock's time (``now=``), so the ledger, the usage report
and Stripe share one timeline. A step the services refuse is fine (a full org refuses
a join); an invariant broken after any step is a failure:

- the ledger's last count equals the memberships, and replays from its deltas;
- used <= purchased;
- at each renewal, used <= at_renewal, and the renewal invoice bills exactly
  at_renewal seats at the next plan's price (the price history, with no proration);
- each month's reported peak is at least every count seen in that month;
- Stripe's quantity equals the app's purchased seats after sync;
- the app's invoices (dj-stripe's mirror) sum to what Stripe invoiced.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import stripe
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from billing import catalog
from billing import services as billing
from billing.models import PendingChange
from billing.selectors import invoices_for_organization
from organizations.exceptions import NotAllowed
from organizations.models import Membership, Role
from organizations.services import (
    invitation_accept,
    invitation_create,
    membership_add_direct,
    membership_remove,
    membership_role_change,
    organization_create,
)
from seats.models import SeatUsageEvent
from seats.selectors import seat_summary, usage_report
from tests.billing.conftest import JAN_15
from tests.factories import UserFactory

REFUSED = (ValidationError, NotAllowed)


def build_machine(stripe_world, tally):
    class OrganizationLife(RuleBasedStateMachine):
        @initialize(seats=st.integers(min_value=3, max_value=8))
        def subscribe(self, seats):
            self.n = 0
            self.owner = UserFactory()
            self.org = organization_create(
                name="Life", creator=self.owner, now=JAN_15 - timedelta(days=1)
            )
            self.org = stripe_world.subscribe(self.org, self.owner, seats=seats, start=JAN_15)
            self.now = stripe_world.now(self.org)
            self.tokens: list[tuple[str, str]] = []
            self.seen: list[tuple] = []  # (time, member count) after each membership step
            self.renewals = 0

        # --- helpers ---------------------------------------------------------------

        def step(self, call):
            tally.add("state machine steps")
            try:
                return call()
            except REFUSED:
                tally.add("state machine refusals")
                return None
            finally:
                self.org.refresh_from_db()

        def later(self, minutes: int = 7) -> None:
            """Membership changes happen at distinct moments inside the period."""
            self.now += timedelta(minutes=minutes)

        def members(self) -> list[Membership]:
            return list(Membership.objects.filter(organization=self.org).order_by("pk"))

        def record(self) -> None:
            count = Membership.objects.filter(organization=self.org).count()
            self.seen.append((self.now, count))

        # --- people ---------------------------------------------------------------

        @rule()
        def join(self):
            self.later()
            self.n += 1
            user = UserFactory()
            self.step(
                lambda: membership_add_direct(
                    organization=self.org, user=user, actor=self.owner, now=self.now
                )
            )
            self.record()

        @rule(role=st.sampled_from(Role.values))
        def invite(self, role):
            self.later()
            self.n += 1
            email = f"invitee{self.n}-{self.org.pk}@life.test"
            result = self.step(
                lambda: invitation_create(
                    organization=self.org, email=email, role=role, actor=self.owner, now=self.now
                )
            )
            if result is not None:
                self.tokens.append((email, result[1]))

        @rule(data=st.data())
        def accept(self, data):
            if not self.tokens:
                return
            email, token = self.tokens.pop(data.draw(st.integers(0, len(self.tokens) - 1)))
            self.later()
            user = UserFactory(email=email)
            self.step(lambda: invitation_accept(token=token, user=user, now=self.now))
            self.record()

        @rule(data=st.data())
        def remove(self, data):
            members = [m for m in self.members() if m.user_id != self.owner.pk]
            if not members:
                return
            target = data.draw(st.sampled_from(members))
            self.later()
            self.step(lambda: membership_remove(membership=target, actor=self.owner, now=self.now))
            self.record()

        @rule(data=st.data(), role=st.sampled_from(Role.values))
        def change_role(self, data, role):
            members = [m for m in self.members() if m.user_id != self.owner.pk]
            if not members:
                return
            target = data.draw(st.sampled_from(members))
            self.step(
                lambda: membership_role_change(
                    membership=target, role=role, actor=self.owner, now=self.now
                )
            )

        # --- billing --------------------------------------------------------------

        @rule(delta=st.integers(min_value=-3, max_value=3))
        def change_seats(self, delta):
            target = (self.org.seats_purchased or 1) + delta
            self.step(
                lambda: billing.seats_change(
                    organization=self.org, actor=self.owner, seats=target, now=self.now
                )
            )
            stripe_world.deliver()

        @rule(cycle=st.sampled_from(["monthly", "annual"]))
        def change_cycle(self, cycle):
            self.step(
                lambda: billing.cycle_change_schedule(
                    organization=self.org, actor=self.owner, cycle=cycle, now=self.now
                )
            )

        @rule(cancel=st.booleans())
        def cancel_or_undo(self, cancel):
            service = billing.subscription_cancel if cancel else billing.subscription_uncancel
            self.step(lambda: service(organization=self.org, actor=self.owner, now=self.now))
            stripe_world.deliver()

        @rule()
        def renew(self):
            if self.org.cancel_at_period_end or self.renewals >= 3:
                return  # an ended subscription has nothing left to renew
            summary = seat_summary(organization=self.org, now=self.now)
            assert summary.used <= summary.at_renewal, "a renewal would bill below use"
            change = PendingChange.objects.filter(organization=self.org, status="pending").first()
            tier = change.target_tier if change else self.org.plan_tier
            cycle = change.target_cycle if change else self.org.billing_cycle
            before = {inv["id"] for inv in stripe_world.invoices(self.org)}
            tally.add("state machine steps")
            self.org = stripe_world.renew(self.org)
            self.renewals += 1
            self.now = stripe_world.now(self.org)
            fresh = [i for i in stripe_world.invoices(self.org) if i["id"] not in before]
            renewal = [i for i in fresh if i.get("billing_reason") == "subscription_cycle"]
            assert len(renewal) == 1, [i.get("billing_reason") for i in fresh]
            price = catalog.plan_get(tier=tier, cycle=cycle)
            assert renewal[0]["amount_due"] == summary.at_renewal * price.unit_amount
            tally.add("renewals checked")

        # --- invariants -------------------------------------------------------------

        @invariant()
        def ledger_matches_memberships(self):
            if not hasattr(self, "org"):
                return
            rows = list(
                SeatUsageEvent.objects.filter(organization=self.org)
                .order_by("pk")
                .values_list("count", "delta")
            )
            running = 0
            for count, delta in rows:
                running += delta
                assert count == running
            members = Membership.objects.filter(organization=self.org).count()
            assert rows[-1][0] == members == running

        @invariant()
        def used_within_purchased_and_stripe_agrees(self):
            if not hasattr(self, "org"):
                return
            summary = seat_summary(organization=self.org, now=self.now)
            assert summary.used <= summary.purchased
            billing.subscription_sync(organization=self.org, now=self.now)
            self.org.refresh_from_db()
            if self.org.subscription_status in billing.ACTIVE_STATUSES:
                sub = stripe.Subscription.retrieve(self.org.stripe_subscription_id)
                assert self.org.seats_purchased == sub["items"]["data"][0]["quantity"]

        @invariant()
        def monthly_peaks_cover_every_count_seen(self):
            if not hasattr(self, "org") or not self.seen:
                return
            for month in usage_report(organization=self.org, now=self.now):
                inside = [c for t, c in self.seen if month.start <= t < month.end]
                if inside:
                    assert month.peak is not None and month.peak >= max(inside)

        def teardown(self):
            if not hasattr(self, "org"):
                return
            # Invoices: the app's mirror sums to what Stripe billed.
            billing.invoices_sync(organization=self.org)
            stripe_total = sum(i["amount_paid"] for i in stripe_world.invoices(self.org))
            mirrored = invoices_for_organization(organization=self.org, limit=100)
            assert sum(i.amount_paid for i in mirrored) == stripe_total
            # Leave nothing for the next example's renewal job to pick up.
            for change in PendingChange.objects.filter(organization=self.org, status="pending"):
                billing.pending_change_cancel(
                    organization=self.org, actor=self.owner, change_id=change.pk
                )

    return OrganizationLife


BOUNDED = settings(
    max_examples=4,
    stateful_step_count=12,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    # Shrinking replays the emulator-backed steps many times: report the first failure.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def test_random_operation_sequences_keep_every_invariant(stripe_world, tally):
    run_state_machine_as_test(build_machine(stripe_world, tally), settings=BOUNDED)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_random_operation_sequences_long(stripe_world, tally):
    run_state_machine_as_test(
        build_machine(stripe_world, tally),
        settings=settings(BOUNDED, max_examples=25, stateful_step_count=30),
    )
