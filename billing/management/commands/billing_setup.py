"""``manage.py billing_setup --site-url URL``: make sure Stripe has the catalog's prices
and a webhook endpoint pointing at this site (dj-stripe stores its signing secret)."""

from django.core.management.base import BaseCommand

from billing import services


class Command(BaseCommand):
    help = "Create missing catalog prices and this site's Stripe webhook endpoint."

    def add_arguments(self, parser):
        parser.add_argument("--site-url", required=True)

    def handle(self, *args, site_url, **options):
        plans = services.billing_catalog_ensure()
        endpoint = services.webhook_endpoint_ensure(base_url=site_url)
        for plan in plans:
            self.stdout.write(f"{plan.name}: {plan.price_id} ({plan.unit_amount} cents)")
        self.stdout.write(f"Webhook endpoint: {endpoint.url}")
