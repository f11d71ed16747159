"""Show dates in the user's timezone.

The browser reports its IANA zone in the ``tz`` cookie (static/seatwise.js sets it);
pages render in that zone. Without the cookie, or with a name zoneinfo does not know,
everything stays in UTC, which is also what the admin and the exports use.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

TIMEZONE_COOKIE = "tz"


def zone_from_name(name: str | None) -> ZoneInfo | None:
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class TimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = None
        if not request.path.startswith("/admin/"):
            zone = zone_from_name(request.COOKIES.get(TIMEZONE_COOKIE))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
