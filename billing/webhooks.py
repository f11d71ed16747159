"""The Stripe webhook endpoint: dj-stripe's view and processing, with two changes.

- dj-stripe lets an ``X-Djstripe-Webhook-Secret`` header replace the endpoint's secret
  when ``DEBUG`` is on (meant for the Stripe CLI). The demo runs with ``DEBUG``, so the
  view refuses any request carrying that header: signatures are always checked against
  the secret Stripe gave us.
- A genuine, signed event can name an object Stripe no longer has (deleted since, or a
  test object): dj-stripe re-reads it and would answer 500, so Stripe would retry it
  for days. The view logs and drops such an event instead (dj-stripe has already kept the
  trigger row, with the error, for staff).
"""

import json
import logging

import stripe
from django.http import HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from djstripe.views import ProcessWebhookView

logger = logging.getLogger(__name__)

_process = ProcessWebhookView.as_view()


@csrf_exempt
def stripe_webhook(request, uuid):
    if "x-djstripe-webhook-secret" in request.headers:
        return HttpResponseBadRequest("Secret override headers are not accepted.")
    if not _is_json_object(request.body):
        # dj-stripe tests `"id" in body` before the signature: a bare `null` or `42`,
        # even unsigned, raised TypeError there and answered 500 (tests/reliability).
        return HttpResponseBadRequest("The body is not a Stripe event object.")
    try:
        return _process(request, uuid=uuid)
    except stripe.InvalidRequestError as exc:
        if exc.code != "resource_missing":
            raise
        # dj-stripe rolled the event back and kept the trigger row with the error.
        logger.warning("A Stripe event names an object Stripe does not have; ignored")
        return HttpResponse("ignored: object not found at Stripe")


def _is_json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:  # also UnicodeDecodeError
        return False
