"""JSON API for people in an organization: list members, send invitations.

Also the base every org-scoped endpoint uses (``OrgAPIView``): authenticate (401),
resolve the organization through the caller's membership (outsiders 404, never 403),
then check the role (members 403 on billing-only endpoints). Services keep their own
role checks; these are the first line, not the last.

Invitations answer with the invitation but never its token: the raw token is the
invitee's proof of owning the address, so it goes only into the email. An API client
that could read it could accept on the invitee's behalf.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from organizations.emails import invitation_email_send
from organizations.exceptions import NotAllowed
from organizations.models import Invitation, Membership, Organization, Role
from organizations.selectors import membership_can_manage_billing, organization_get_for_member
from organizations.services import MANAGER_ROLES, invitation_create

# --- The error shape (the handler that produces it is config.api) ----------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Stable machine-readable reason, e.g. `seat_limit_reached`."
    )
    message = serializers.CharField(help_text="What went wrong and what to do, for people.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Per-field messages; present only when input failed validation.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_ERROR_TEXT = {
    400: "Bad input or a refused request; the message says what to do. Nothing changed.",
    401: "Not signed in: send `Authorization: Token <key>` or a session cookie.",
    403: "Signed in, but your role in this organization does not allow this.",
    404: "No such organization, or you are not a member of it.",
    415: "Send the body as `application/json`.",
    429: "Too many attempts; wait for the seconds in `Retry-After`.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Schema entries for the error bodies an operation can answer with."""
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=_ERROR_TEXT[code])
        for code in codes
    }


# --- Tokens ---------------------------------------------------------------------------


class TokenObtainThrottle(AnonRateThrottle):
    # Password guessing: a person needs a token a few times, a script thousands. The
    # cache is per process unless CACHES points at Redis, so this is a brake, not a wall.
    rate = "10/min"


@extend_schema_view(
    post=extend_schema(
        operation_id="auth_token_obtain",
        summary="Exchange a username and password for an API token",
        description="Send `Authorization: Token <token>` on every other request.",
        responses={
            200: inline_serializer("IssuedToken", {"token": serializers.CharField()}),
            **error_responses(400, 429),
        },
    )
)
class AuthTokenView(ObtainAuthToken):
    throttle_classes = [TokenObtainThrottle]


# --- Org-scoped base ------------------------------------------------------------------


class OrgAPIView(APIView):
    """An endpoint under ``/api/v1/orgs/<slug>/``.

    Token authentication comes first so an anonymous caller gets 401 with
    ``WWW-Authenticate: Token`` rather than a bare 403; browser sessions (with CSRF on
    writes) work too. ``billing_only`` endpoints are for owners and billing managers.
    """

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    billing_only = False

    organization: Organization
    membership: Membership

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # authentication: 401 before anything
        self.organization, self.membership = organization_get_for_member(
            slug=kwargs["slug"], user=request.user
        )
        if self.billing_only and not membership_can_manage_billing(membership=self.membership):
            raise NotAllowed("Only owners and billing managers can see billing.")


# --- Members --------------------------------------------------------------------------


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    name = serializers.SerializerMethodField()
    joined_at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "role", "joined_via", "joined_at"]

    def get_name(self, membership: Membership) -> str:
        return membership.user.get_full_name()


class MemberPagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 500


@extend_schema_view(
    get=extend_schema(
        operation_id="members_list",
        summary="Members of the organization",
        responses={200: MemberSerializer(many=True), **error_responses(401, 404)},
    )
)
class MemberListView(OrgAPIView, generics.ListAPIView):
    """Everyone in the organization may see who else is in it, as on the members page."""

    serializer_class = MemberSerializer
    pagination_class = MemberPagination

    def get_queryset(self):
        return (
            Membership.objects.filter(organization=self.organization)
            .select_related("user")
            .order_by("created_at", "id")
        )


# --- Invitations ----------------------------------------------------------------------


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(
        choices=Role.choices,
        default=Role.MEMBER,
        # DRF's default message echoes the input, however long it is.
        error_messages={
            "invalid_choice": f"Unknown role. Choose one of: {', '.join(Role.values)}."
        },
    )


class InvitationSerializer(serializers.ModelSerializer):
    invited_by = serializers.EmailField(source="invited_by.email", allow_null=True)
    email_sent = serializers.SerializerMethodField(
        help_text="False when the mail server refused: the invitation stands; resend it."
    )

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "role",
            "status",
            "created_at",
            "expires_at",
            "invited_by",
            "email_sent",
        ]

    def get_email_sent(self, invitation) -> bool | None:
        return self.context.get("email_sent")


class InvitationSendThrottle(UserRateThrottle):
    # Each invitation sends an email: a brake on floods, as on the members page
    # (organizations.ratelimit).
    scope = "invitations"
    rate = "60/hour"


class InvitationCreateView(OrgAPIView):
    throttle_classes = [InvitationSendThrottle]

    @extend_schema(
        operation_id="invitations_create",
        summary="Invite someone by email",
        description="Reserves a seat until accepted, revoked or expired. Refused with "
        "`seat_limit_reached` when no seat is free. The invitation token is emailed to "
        "the invitee and never returned. Owners and billing managers may invite; only "
        "owners may invite owners or billing managers.",
        request=InvitationCreateSerializer,
        responses={
            201: InvitationSerializer,
            **error_responses(400, 401, 403, 404, 415, 429),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        # Role first, so a member learns "not allowed" rather than which fields are wrong.
        if self.membership.role not in MANAGER_ROLES:
            raise NotAllowed("Only owners and billing managers can invite people.")
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation, token = invitation_create(
            organization=self.organization,
            email=serializer.validated_data["email"],
            role=serializer.validated_data["role"],
            actor=request.user,
        )
        # A refused email leaves the invitation standing (it can be resent); the answer
        # says so rather than failing.
        emailed = invitation_email_send(request=request, invitation=invitation, token=token)
        data = InvitationSerializer(invitation, context={"email_sent": emailed}).data
        return Response(data, status=status.HTTP_201_CREATED)
