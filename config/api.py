"""What every endpoint of the JSON API shares: one error shape and how errors map to it.

Every failure answers ``{"error": {"code": ..., "message": ..., "fields": {...}?}}``:
DRF's own exceptions, Django's ``ValidationError``/``PermissionDenied``/``Http404``,
the services' refusals (``BillingRefused``, ``SeatLimitReached``, ``NotAllowed``) and
Stripe gateway errors. ``fields`` appears only for per-field input errors. The
services write messages for people, so they pass through as they are.

The handler lives in ``config`` because it maps errors from every app, and apps
depend one way only (billing → seats → organizations); the schema's description of
the shape is ``organizations.api.ErrorSerializer``.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from billing.gateway import PaymentDeclined, StripeGatewayError, StripeTransient

logger = logging.getLogger(__name__)


def _body(code: str, message: str, fields: dict | None = None) -> dict:
    error: dict = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _django_validation_messages(exc: DjangoValidationError) -> str:
    return " ".join(str(m) for m in exc.messages) or "Invalid input."


def _field_messages(detail) -> dict[str, list[str]]:
    """DRF's nested detail as ``{"field": ["message", ...]}`` (nested keys dotted)."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list) and value and not all(isinstance(v, str) for v in value):
            for index, inner in enumerate(value):
                walk(f"{prefix}.{index}" if prefix else str(index), inner)
        else:
            items = value if isinstance(value, list) else [value]
            flat.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in items)

    walk("", detail)
    return flat


def _drf_error(exc: exceptions.APIException) -> Response:
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        fields = _field_messages(exc.detail)
        general = fields.pop("non_field_errors", [])
        message = " ".join(general) or "Some fields are invalid; see `fields`."
        body = _body("invalid", message, fields)
    else:
        detail = exc.detail
        message = str(detail) if not isinstance(detail, list | dict) else exc.default_detail
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        body = _body(code, message)
    return Response(body, status=exc.status_code, headers=headers)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Turn every expected failure into the one error shape. Anything else is a bug and
    is left to Django (a logged 500)."""
    if isinstance(exc, exceptions.APIException):
        set_rollback()
        return _drf_error(exc)
    if isinstance(exc, Http404):
        set_rollback()
        return Response(_body("not_found", str(exc) or "Not found."), status=404)
    if isinstance(exc, PermissionDenied):
        set_rollback()
        message = getattr(exc, "message", None) or str(exc) or "You may not do this."
        return Response(_body("permission_denied", message), status=403)
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        code = getattr(exc, "code", None) or "invalid"
        return Response(_body(code, _django_validation_messages(exc)), status=400)
    if isinstance(exc, StripeGatewayError):
        set_rollback()
        logger.info("Stripe error in the API: %s %s", type(exc).__name__, exc.code)
        if isinstance(exc, PaymentDeclined):
            return Response(_body(exc.code or "payment_declined", exc.message), status=402)
        if isinstance(exc, StripeTransient):
            return Response(_body("stripe_unavailable", exc.message), status=503)
        return Response(_body(exc.code or "stripe_error", exc.message), status=502)
    return None


@extend_schema(exclude=True)
class NotFoundView(APIView):
    """Unknown paths under /api/ answer in the API's error shape, not the HTML 404."""

    authentication_classes = []
    permission_classes = []

    def _not_found(self, request, *args, **kwargs):
        raise exceptions.NotFound("No such API endpoint.")

    get = post = put = patch = delete = head = options = _not_found
