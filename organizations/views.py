"""Pages for accounts, organizations and members.

Every org page starts with ``org_view``: sign-in first, then the organization through
the user's membership (outsiders get 404, never 403), then the role check for billing
pages. Views validate a form, call one service and redirect; refusals from the services
(``ValidationError``, ``NotAllowed``) become form errors or messages, as written.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from organizations.emails import invitation_email_send
from organizations.exceptions import InvitationInvalid, NotAllowed
from organizations.forms import InviteForm, OrganizationCreateForm, RoleForm, SignupForm
from organizations.models import (
    Invitation,
    InvitationStatus,
    Membership,
    MembershipRemoval,
    Organization,
    Role,
    invitation_token_hash,
)
from organizations.ratelimit import Limit, client_ip, posted_username, rate_limited, signed_in_user
from organizations.selectors import (
    membership_can_manage_billing,
    organization_get_for_member_page,
    organization_list_for_user,
)
from organizations.services import (
    invitation_accept,
    invitation_create,
    invitation_resend,
    invitation_revoke,
    membership_leave,
    membership_remove,
    membership_role_change,
    organization_create,
)
from seats.exceptions import SeatLimitReached
from seats.selectors import seat_summary

# --- Shared by every org-scoped view (seats and billing import these) ----------------


def org_view(*, billing: bool = False) -> Callable:
    """Resolve ``slug`` to (organization, membership) for the signed-in user.

    Anonymous users go to the login page, outsiders get 404 from the selector, and
    with ``billing=True`` members get 403: billing is for owners and billing managers.
    """

    def decorate(view):
        @login_required
        @functools.wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args, **kwargs):
            organization, membership, organizations = organization_get_for_member_page(
                slug=slug, user=request.user
            )
            if billing and not membership_can_manage_billing(membership=membership):
                raise PermissionDenied("Only owners and billing managers can see billing.")
            request.organization = organization
            request.membership = membership
            request.user_organizations = organizations  # the header's switcher
            return view(request, organization, membership, *args, **kwargs)

        return wrapper

    return decorate


def refusal_text(exc: Exception) -> str:
    """The user-facing text of a service refusal, exactly as the service wrote it."""
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return getattr(exc, "message", None) or str(exc)


def org_nav(*, organization: Organization, membership: Membership, tab: str = "") -> dict:
    """Context every org page needs for its header and tabs."""
    return {
        "tab": tab,
        "organization": organization,
        "membership": membership,
        "can_manage_billing": membership_can_manage_billing(membership=membership),
        "is_owner": membership.role == Role.OWNER,
    }


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


# --- Accounts and organizations -------------------------------------------------------


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """One organization: go straight to it. None or several: the picker."""
    organizations = list(organization_list_for_user(user=request.user))
    if len(organizations) == 1:
        return redirect("members", slug=organizations[0].slug)
    return render(
        request,
        "organizations/picker.html",
        {"organizations": organizations, "form": OrganizationCreateForm()},
    )


@login_required
@require_POST
def organization_new(request: HttpRequest) -> HttpResponse:
    form = OrganizationCreateForm(request.POST)
    if form.is_valid():
        try:
            org = organization_create(name=form.cleaned_data["name"], creator=request.user)
        except ValidationError as exc:
            form.add_error("name", refusal_text(exc))
        else:
            messages.success(request, f"{org.name} is ready. Your trial has started.")
            return redirect("members", slug=org.slug)
    organizations = list(organization_list_for_user(user=request.user))
    return render(
        request, "organizations/picker.html", {"organizations": organizations, "form": form}
    )


# Password guessing: only failed sign-ins count (a success redirects), per address and
# per account, so one attacker cannot lock out a person from elsewhere for long.
login_page = rate_limited(
    Limit(scope="login-ip", limit=30, window=900, key=client_ip),
    Limit(scope="login-user", limit=10, window=900, key=posted_username),
    counts=lambda request, response: response.status_code != 302,
)(LoginView.as_view())


def signup(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    # Coming from an invitation link: the account joins that organization instead of
    # creating its own.
    joining = bool(next_url and next_url.startswith("/invitations/"))
    if request.method == "POST":
        form = SignupForm(request.POST, needs_organization=not joining)
        if form.is_valid():
            try:
                user, org = form.save()
            except ValidationError as exc:
                form.add_error(None, refusal_text(exc))
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                if org is not None:
                    messages.success(request, f"Welcome! {org.name} is on a free trial.")
                return redirect(next_url or "home")
    else:
        form = SignupForm(
            initial={"email": request.GET.get("email", "")}, needs_organization=not joining
        )
    return render(request, "registration/signup.html", {"form": form, "next": next_url or ""})


def _invitation_by_token(token: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )


@rate_limited(
    # Token guessing: unknown links (404) and refused accepts count, per address.
    Limit(scope="invitation-ip", limit=30, window=900, key=client_ip),
    methods=("GET", "POST"),
    counts=lambda request, response: (
        response.status_code == 404
        or (request.method == "POST" and response.get("Location") == request.path)
    ),
)
def invitation_accept_page(request: HttpRequest, token: str) -> HttpResponse:
    """GET explains the invitation (or why it cannot be used); POST accepts it."""
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('login')}?next={request.path}")
        try:
            membership = invitation_accept(token=token, user=request.user)
        except (InvitationInvalid, ValidationError, NotAllowed) as exc:
            messages.error(request, refusal_text(exc))
            return redirect(request.path)
        messages.success(request, f"You joined {membership.organization.name}.")
        return redirect("members", slug=membership.organization.slug)

    invitation = _invitation_by_token(token)
    problem = None
    if invitation is None:
        problem = "This invitation link is not valid. It may have been replaced by a newer one."
    elif invitation.status == InvitationStatus.REVOKED or invitation.organization.is_deleted:
        problem = "This invitation was revoked. Ask the organization for a new one."
    elif invitation.status == InvitationStatus.ACCEPTED:
        problem = "This invitation has already been used."
    elif invitation.is_expired(now=timezone.now()):
        problem = "This invitation has expired. Ask the organization to resend it."
    email_matches = bool(
        invitation
        and request.user.is_authenticated
        and (request.user.email or "").lower() == invitation.email
    )
    return render(
        request,
        "organizations/invitation_accept.html",
        {"invitation": invitation, "problem": problem, "email_matches": email_matches},
        status=404 if invitation is None else 200,
    )


# --- Members page ------------------------------------------------------------------------


def _members_page(
    request: HttpRequest,
    organization: Organization,
    membership: Membership,
    *,
    invite_form: InviteForm | None = None,
    seat_refusal: bool = False,
    status: int = 200,
) -> HttpResponse:
    now = timezone.now()
    nav = org_nav(organization=organization, membership=membership, tab="members")
    can_manage_members = nav["can_manage_billing"]
    context = {
        **nav,
        "seats": seat_summary(organization=organization, now=now),
        "members": Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("created_at", "pk"),
        "invitations": Invitation.objects.filter(
            organization=organization, status=InvitationStatus.PENDING
        )
        .select_related("invited_by")
        .order_by("created_at", "pk")
        if can_manage_members
        else [],
        "removals": MembershipRemoval.objects.filter(organization=organization)
        .select_related("removed_by")
        .order_by("-removed_at", "-pk")[:50]
        if can_manage_members
        else [],
        "invite_form": invite_form or InviteForm(can_grant_managers=nav["is_owner"]),
        "role_choices": Role.choices,
        "seat_refusal": seat_refusal,
        "now": now,
        "can_manage_members": can_manage_members,
    }
    return render(request, "organizations/members.html", context, status=status)


@org_view()
@require_GET
def organization_home(request, organization, membership) -> HttpResponse:
    return redirect("members", slug=organization.slug)


@org_view()
@require_GET
def members(request, organization, membership) -> HttpResponse:
    return _members_page(request, organization, membership)


@org_view()
@require_POST
@rate_limited(Limit(scope="invite-user", limit=60, window=3600, key=signed_in_user))
def invite(request, organization, membership) -> HttpResponse:
    form = InviteForm(request.POST, can_grant_managers=membership.role == Role.OWNER)
    if not form.is_valid():
        return _members_page(request, organization, membership, invite_form=form, status=400)
    try:
        invitation, token = invitation_create(
            organization=organization,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            actor=request.user,
        )
    except ValidationError as exc:
        # NotAllowed (a member inviting) propagates: a 403, since they have no form.
        form.add_error(None, refusal_text(exc))
        return _members_page(
            request,
            organization,
            membership,
            invite_form=form,
            seat_refusal=isinstance(exc, SeatLimitReached),
            status=400,
        )
    _invitation_sent_message(request, invitation=invitation, token=token, again=False)
    return redirect("members", slug=organization.slug)


def _invitation_sent_message(request, *, invitation: Invitation, token: str, again: bool):
    if invitation_email_send(request=request, invitation=invitation, token=token):
        messages.success(
            request, f"Invitation sent {'again ' if again else ''}to {invitation.email}."
        )
    else:
        messages.warning(
            request,
            f"The invitation to {invitation.email} is saved, but the email could not be "
            "sent. Try Resend in a moment.",
        )


def _org_invitation(organization: Organization, invitation_id: int) -> Invitation:
    return get_object_or_404(Invitation, organization=organization, pk=invitation_id)


@org_view()
@require_POST
def invitation_resend_view(request, organization, membership, invitation_id: int):
    invitation = _org_invitation(organization, invitation_id)
    try:
        invitation, token = invitation_resend(invitation=invitation, actor=request.user)
    except (ValidationError, NotAllowed) as exc:
        messages.error(request, refusal_text(exc))
    else:
        _invitation_sent_message(request, invitation=invitation, token=token, again=True)
    return redirect("members", slug=organization.slug)


@org_view()
@require_POST
def invitation_revoke_view(request, organization, membership, invitation_id: int):
    invitation = _org_invitation(organization, invitation_id)
    try:
        invitation_revoke(invitation=invitation, actor=request.user)
    except (ValidationError, NotAllowed) as exc:
        messages.error(request, refusal_text(exc))
    else:
        messages.success(request, f"Invitation to {invitation.email} revoked; its seat is free.")
    return redirect("members", slug=organization.slug)


def _org_membership(organization: Organization, membership_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user"), organization=organization, pk=membership_id
    )


@org_view()
@require_POST
def member_remove(request, organization, membership, membership_id: int):
    target = _org_membership(organization, membership_id)
    try:
        membership_remove(membership=target, actor=request.user)
    except (ValidationError, NotAllowed) as exc:
        messages.error(request, refusal_text(exc))
    else:
        messages.success(request, f"{target.user.email} was removed; their seat is free.")
    return redirect("members", slug=organization.slug)


@org_view()
@require_POST
def member_role(request, organization, membership, membership_id: int):
    target = _org_membership(organization, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role: owner, billing manager or member.")
        return redirect("members", slug=organization.slug)
    try:
        changed = membership_role_change(
            membership=target, role=form.cleaned_data["role"], actor=request.user
        )
    except (ValidationError, NotAllowed) as exc:
        messages.error(request, refusal_text(exc))
    else:
        messages.success(
            request, f"{target.user.email} is now {changed.get_role_display().lower()}."
        )
    return redirect("members", slug=organization.slug)


@org_view()
@require_POST
def leave(request, organization, membership):
    try:
        membership_leave(membership=membership, actor=request.user)
    except (ValidationError, NotAllowed) as exc:
        messages.error(request, refusal_text(exc))
        return redirect("members", slug=organization.slug)
    messages.success(request, f"You left {organization.name}.")
    return redirect("home")
