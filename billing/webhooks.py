"""The Stripe webhook endpoint, ``/stripe/webhook/<uuid>/``: verify, record, answer.

Stripe asks for a 2xx quickly, before any complex logic, and delivers some events more
than once. So the request only checks the signature against the endpoint's secret
(stripe-python's ``WebhookSignature``, with the endpoint's tolerance, as dj-stripe
does) and records the event in the inbox (``billing.services.webhooks``): a first
delivery enqueues its processing on commit, a duplicate answers 200 at once. dj-stripe's
processing (its Event row, the object's sync, the signals our receivers listen to) runs
in a Celery task. Refused with 400 and stored nowhere:

- any request carrying dj-stripe's ``X-Djstripe-Webhook-Secret`` header, which lets the
  caller choose the secret when ``DEBUG`` is on (meant for the Stripe CLI; the demo runs
  with ``DEBUG``): signatures are always checked against the secret Stripe gave us;
- an unsigned or wrongly signed body, or one signed further than the tolerance in the
  past (or, which stripe-python does not check, in the future);
- a body that is not a JSON object with an ``id``, a ``type`` and ``livemode``;
- an event carrying U+0000, which PostgreSQL's jsonb cannot store (dj-stripe's Event
  row would fail with a DataError, and Stripe would retry it for days).

An unknown endpoint uuid is a 404, as in dj-stripe.
"""

import json
import logging
import time

import stripe
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from djstripe.models import WebhookEndpoint

from billing.services import webhook_delivery_receive

logger = logging.getLogger(__name__)


@csrf_exempt
def stripe_webhook(request, uuid):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if "x-djstripe-webhook-secret" in request.headers:
        return HttpResponseBadRequest("Secret override headers are not accepted.")
    signature = request.headers.get("stripe-signature")
    if not signature:
        # Before the endpoint lookup, as dj-stripe does: unsigned noise costs no query.
        return HttpResponseBadRequest("The Stripe-Signature header is missing.")
    endpoint = get_object_or_404(
        WebhookEndpoint.objects.only("djstripe_id", "secret", "djstripe_tolerance"),
        djstripe_uuid=uuid,
    )
    tolerance = endpoint.djstripe_tolerance
    try:
        body = request.body.decode("utf-8")
        stripe.WebhookSignature.verify_header(body, signature, endpoint.secret, tolerance)
    except (UnicodeDecodeError, stripe.SignatureVerificationError):
        logger.warning("A Stripe webhook failed signature verification; refused")
        return HttpResponseBadRequest("The signature does not verify.")
    if tolerance and _signed_at(signature) > time.time() + tolerance:
        # stripe-python bounds only the past; a signature from the future is as suspect.
        logger.warning("A Stripe webhook was signed in the future; refused")
        return HttpResponseBadRequest("The signature does not verify.")
    event = _json_object(body)
    if not _is_event(event):
        return HttpResponseBadRequest("The body is not a Stripe event object.")
    if _has_nul(event):
        logger.warning("A Stripe event body contains U+0000; refused")
        return HttpResponseBadRequest("The event contains a NUL character.")
    return HttpResponse(webhook_delivery_receive(endpoint=endpoint, event=event, body=body))


def _signed_at(signature: str) -> int:
    # The timestamp verify_header checked: the first "t=", an integer (it parsed it).
    return next(int(v) for k, _, v in (p.partition("=") for p in signature.split(",")) if k == "t")


def _json_object(body: str) -> dict | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _is_event(event: dict | None) -> bool:
    return (
        event is not None
        and isinstance(event.get("id"), str)
        and 0 < len(event["id"]) <= 255
        and isinstance(event.get("type"), str)
        and 0 < len(event["type"]) <= 250
        and "livemode" in event
    )


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
