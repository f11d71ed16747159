from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self):
        from billing import receivers, webhook_admin  # noqa: F401 (registers its admin)

        receivers.connect()
