"""Stripe's error shapes. Every failure leaves the emulator as an `error` JSON body that
stripe-python maps to the same exception class real Stripe would produce.
"""

from __future__ import annotations

from typing import Any

DOC_URL = "https://stripe.com/docs/error-codes"


class StripeError(Exception):
    def __init__(
        self,
        *,
        status: int,
        type: str,
        message: str,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOC_URL}/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        error.update(self.extra)
        return {"error": error}

    @classmethod
    def invalid(
        cls, *, message: str, param: str | None = None, code: str | None = None, status: int = 400
    ) -> StripeError:
        return cls(
            status=status, type="invalid_request_error", message=message, code=code, param=param
        )

    @classmethod
    def missing(cls, *, kind: str, object_id: str, param: str | None = "id") -> StripeError:
        # An unknown id in the URL is a 404; one given as a parameter is a 400 naming it.
        return cls.invalid(
            message=f"No such {kind}: '{object_id}'",
            param=param,
            code="resource_missing",
            status=404 if param == "id" else 400,
        )

    @classmethod
    def card_declined(
        cls, *, decline_code: str, message: str, extra: dict[str, Any] | None = None
    ) -> StripeError:
        return cls(
            status=402,
            type="card_error",
            message=message,
            code="card_declined",
            decline_code=decline_code,
            extra=extra,
        )
