from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self):
        from billing import pacing, receivers

        receivers.connect()
        pacing.install()
