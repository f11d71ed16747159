from django.contrib import admin
from django.urls import include, path

from billing.webhooks import stripe_webhook

urlpatterns = [
    path("admin/", admin.site.urls),
    # Ours first: the same path as dj-stripe's, minus its debug secret override.
    path("stripe/webhook/<uuid:uuid>/", stripe_webhook, name="stripe-webhook"),
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
]
