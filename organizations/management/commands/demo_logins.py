"""``manage.py demo_logins``: print the demo accounts (username = email)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from organizations.demo import DEMO_LOGINS, DEMO_PASSWORD


class Command(BaseCommand):
    help = "Print the demo logins created by seed_demo."

    def handle(self, *args, **options):
        present = set(
            get_user_model()
            .objects.filter(username__in=[login.email for login in DEMO_LOGINS], is_active=True)
            .values_list("username", flat=True)
        )
        if not present:
            self.stdout.write("No demo logins: run `manage.py seed_demo` first.")
            return
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for login in DEMO_LOGINS:
            if login.email in present:
                self.stdout.write(f"  {login.email:<22} {login.role}")
