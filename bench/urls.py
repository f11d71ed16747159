"""The project's URLs plus the webhook baseline: a minimal view that checks Stripe's
signature and answers 200, the floor any webhook endpoint pays."""

import stripe
from django.http import HttpResponse, HttpResponseBadRequest
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from djstripe.models import WebhookEndpoint

from config.urls import urlpatterns as project_urlpatterns

_secrets: dict[str, str] = {}


@csrf_exempt
def webhook_baseline(request, uuid):
    # The secret is looked up once per process; the real endpoint reads it per request
    # too, but a baseline should be the floor.
    key = str(uuid)
    if key not in _secrets:
        _secrets[key] = WebhookEndpoint.objects.get(djstripe_uuid=uuid).secret
    try:
        stripe.WebhookSignature.verify_header(
            request.body.decode(),
            request.headers.get("stripe-signature", ""),
            _secrets[key],
            tolerance=300,
        )
    except stripe.SignatureVerificationError:
        return HttpResponseBadRequest("bad signature")
    return HttpResponse("ok")


urlpatterns = [
    path("bench/webhook-baseline/<uuid:uuid>/", webhook_baseline),
    *project_urlpatterns,
]
