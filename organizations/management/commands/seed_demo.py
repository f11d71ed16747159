"""``manage.py seed_demo``: the Acme Analytics demo for ``make run``. Idempotent."""

from django.core.management.base import BaseCommand

from organizations.demo import demo_seed
from seats.selectors import seat_summary


class Command(BaseCommand):
    help = "Create the demo organization, people and ledger history (once)."

    def handle(self, *args, **options):
        org = demo_seed()
        if org is None:
            self.stdout.write("Demo data already present; nothing changed.")
            return
        summary = seat_summary(organization=org)
        self.stdout.write(
            f"Seeded {org.name}: {summary.used} of {summary.purchased} seats used "
            f"({summary.members} members, {summary.pending_invites} pending invitation)."
        )
