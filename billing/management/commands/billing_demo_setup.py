"""``manage.py billing_demo_setup``: the demo's catalog, webhook endpoint and a renewed
subscription for the demo organization, in the Stripe emulator."""

from django.core.management.base import BaseCommand

from billing import demo
from billing.selectors import subscription_summary


class Command(BaseCommand):
    help = "Set up the demo's Stripe side (catalog, webhook endpoint, subscription)."

    def add_arguments(self, parser):
        parser.add_argument("--site-url", default="http://127.0.0.1:8000")

    def handle(self, *args, site_url, **options):
        org = demo.demo_billing_setup(site_url=site_url)
        if org is None:
            self.stdout.write("No demo organization; run seed_demo first.")
            return
        summary = subscription_summary(organization=org)
        self.stdout.write(
            f"{org.name}: {summary.tier_name} {summary.cycle}, {summary.purchased} seats, "
            f"{summary.status_label.lower()}, renews {summary.period_end:%d %b %Y}."
        )
