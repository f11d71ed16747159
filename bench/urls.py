"""The project's URLs plus two baselines: for webhooks, a minimal view that checks
Stripe's signature and answers 200, the floor any webhook endpoint pays; for pages, a
view that renders a page's template from a context captured once, so it pays the
request cycle (middleware, session, sign-in) and none of the page view's own work."""

import stripe
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
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


# Filled by bench.pages (same process): key -> (template name, precomputed context).
page_contexts: dict[str, tuple[str, dict]] = {}


@login_required
def page_baseline(request, key):
    template, context = page_contexts[key]
    return render(request, template, context)


urlpatterns = [
    path("bench/webhook-baseline/<uuid:uuid>/", webhook_baseline),
    path("bench/page-baseline/<slug:key>/", page_baseline),
    *project_urlpatterns,
]
