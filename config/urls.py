from django.contrib import admin
from django.urls import include, path

from billing.webhooks import stripe_webhook

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("config.api_urls")),
    # Ours first: the same path as dj-stripe's, minus its debug secret override.
    path("stripe/webhook/<uuid:uuid>/", stripe_webhook, name="stripe-webhook"),
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    # Server-rendered pages: accounts, members, usage and the subscription.
    path("", include("organizations.urls")),
    path("o/<slug:slug>/", include("seats.urls")),
    path("o/<slug:slug>/billing/", include("billing.urls")),
]
