"""Presentation helpers for every page: money, seat counts, the user's timezone, and
the organization switcher in the header.

Formatting only. No tag here decides anything about seats or billing; the numbers come
from the selectors.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

from organizations.selectors import organization_list_for_user

register = template.Library()


@register.filter
def money(cents) -> str:
    """Integer cents to "$1,234.56"; negative amounts (credits) as "-$12.00"."""
    if cents is None or cents == "":
        return ""
    try:
        cents = int(cents)
    except (TypeError, ValueError):
        return ""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


@register.filter
def seats(n) -> str:
    """ "1 seat", "3 seats"."""
    try:
        n = int(n)
    except (TypeError, ValueError):
        return ""
    return f"{n} seat" if n == 1 else f"{n:,} seats"


@register.filter
def localdate(value: datetime | None, fmt: str = "j M Y") -> str:
    """A date in the timezone activated for this request (UTC unless the user chose one)."""
    if value is None:
        return ""
    return date_format(timezone.localtime(value), fmt)


@register.filter
def localdatetime(value: datetime | None) -> str:
    return localdate(value, "j M Y, H:i T")


@register.simple_tag(takes_context=True)
def user_organizations(context) -> list:
    """The signed-in user's organizations, for the switcher. Org pages have them
    already (``org_view`` reads them with the membership); otherwise one query, kept
    on the request."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or user is None or not user.is_authenticated:
        return []
    cached = getattr(request, "user_organizations", None)
    if cached is None:
        cached = list(organization_list_for_user(user=user).only("name", "slug"))
        request.user_organizations = cached
    return cached
