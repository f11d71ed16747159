"""The Stripe webhook endpoint: dj-stripe's view, with its debug bypass closed.

dj-stripe lets an ``X-Djstripe-Webhook-Secret`` header replace the endpoint's secret
when ``DEBUG`` is on (meant for the Stripe CLI). The demo runs with ``DEBUG``, so this
wrapper refuses any request carrying that header: signatures are always checked against
the secret Stripe gave us.
"""

from django.http import HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from djstripe.views import ProcessWebhookView

_process = ProcessWebhookView.as_view()


@csrf_exempt
def stripe_webhook(request, uuid):
    if "x-djstripe-webhook-secret" in request.headers:
        return HttpResponseBadRequest("Secret override headers are not accepted.")
    return _process(request, uuid=uuid)
