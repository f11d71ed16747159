"""Errors raised by organization services.

Bad input and broken rules are ``ValidationError`` (forms show the message as it is);
an actor without the right role gets ``NotAllowed``. Views resolve the organization
through a membership first, so outsiders see 404 before a service is ever called.
"""

from django.core.exceptions import PermissionDenied, ValidationError


class NotAllowed(PermissionDenied):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvitationInvalid(ValidationError):
    """An unknown, expired, revoked or already used invitation token."""

    def __init__(self, message: str, code: str):
        super().__init__(message, code=code)
