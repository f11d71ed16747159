"""Start the seat ledger of organizations that existed before it. Idempotent."""

from django.core.management.base import BaseCommand

from seats.services import seat_baseline_backfill


class Command(BaseCommand):
    help = "Write one baseline ledger row for every organization that has no ledger yet."

    def handle(self, *args, **options):
        written = seat_baseline_backfill()
        self.stdout.write(f"Baseline rows written: {written}")
