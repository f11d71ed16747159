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
    event = _json_object(request.body)
    if event is None:
        # dj-stripe tests `"id" in body` before the signature: a bare `null` or `42`,
        # even unsigned, raised TypeError there and answered 500 (tests/reliability).
        return HttpResponseBadRequest("The body is not a Stripe event object.")
    if _has_nul(event):
        # PostgreSQL's jsonb cannot hold U+0000: a signed event carrying one failed to
        # store with a DataError (a 500, retried by Stripe for days). Refuse it instead.
        logger.warning("A Stripe event body contains U+0000; refused")
        return HttpResponseBadRequest("The event contains a NUL character.")
    try:
        return _process(request, uuid=uuid)
    except stripe.InvalidRequestError as exc:
        if exc.code != "resource_missing":
            raise
        # dj-stripe rolled the event back and kept the trigger row with the error.
        logger.warning("A Stripe event names an object Stripe does not have; ignored")
        return HttpResponse("ignored: object not found at Stripe")


def _json_object(body: bytes) -> dict | None:
    try:
        value = json.loads(body)
    except ValueError:  # also UnicodeDecodeError
        return None
    return value if isinstance(value, dict) else None


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
