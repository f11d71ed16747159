"""Emails the organization pages and API send.

An invitation's raw token exists only when ``invitation_create`` / ``invitation_resend``
returns (the database keeps its hash), so the email is sent right then, by the caller.
"""

from __future__ import annotations

import logging

from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from organizations.models import Invitation

logger = logging.getLogger(__name__)


def invitation_email_send(*, request, invitation: Invitation, token: str) -> bool:
    """Send the invitation link. Returns False (and logs) when the mail server refused:
    the invitation stands and can be resent, so the caller reports instead of failing."""
    url = request.build_absolute_uri(reverse("invitation-accept", args=[token]))
    context = {"invitation": invitation, "url": url, "inviter": request.user}
    try:
        send_mail(
            subject=f"You're invited to join {invitation.organization.name} on Seatwise",
            message=render_to_string("emails/invitation.txt", context),
            from_email=None,
            recipient_list=[invitation.email],
        )
    except Exception:
        logger.exception("invitation %s: the email could not be sent", invitation.pk)
        return False
    return True
