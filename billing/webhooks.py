"""The Stripe webhook endpoint: dj-stripe's view and processing, with two changes.

- dj-stripe lets an ``X-Djstripe-Webhook-Secret`` header replace the endpoint's secret
  when ``DEBUG`` is on (meant for the Stripe CLI). The demo runs with ``DEBUG``, so the
  view refuses any request carrying that header: signatures are always checked against
  the secret Stripe gave us.
- A genuine, signed event can name an object Stripe no longer has (deleted since, or a
  test object): dj-stripe re-reads it and would answer 500, so Stripe would retry it
  for days. ``process_event`` logs and drops such an event instead.
"""

import logging

import stripe
from django.db import transaction
from django.http import HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from djstripe.views import ProcessWebhookView

logger = logging.getLogger(__name__)

_process = ProcessWebhookView.as_view()


@csrf_exempt
def stripe_webhook(request, uuid):
    if "x-djstripe-webhook-secret" in request.headers:
        return HttpResponseBadRequest("Secret override headers are not accepted.")
    return _process(request, uuid=uuid)


def process_event(trigger, api_key=None):
    """``DJSTRIPE_WEBHOOK_EVENT_CALLBACK``: runs once the signature is verified."""
    try:
        with transaction.atomic():
            trigger.process(save=False, api_key=api_key)
    except stripe.InvalidRequestError as exc:
        if exc.code != "resource_missing":
            raise
        event = trigger.json_body
        logger.warning(
            "Stripe event %s (%s) names an object Stripe does not have; ignored",
            event.get("id"),
            event.get("type"),
        )
        trigger.processed = True
