"""Errors raised by seat accounting. They are ValidationErrors so forms and the API can
show the message as it is."""

from django.core.exceptions import ValidationError


class SeatLimitReached(ValidationError):
    """A join or invitation would make used seats exceed the cap. The message names the
    free seats and what the user can do about it."""

    def __init__(self, message: str):
        super().__init__(message, code="seat_limit_reached")
