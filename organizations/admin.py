"""Staff admin for tenants. Mostly read-only: every change goes through
``organizations.services`` (actions and the add-member form), so the ledger, the
tombstones and the seat rules hold for staff too. List pages annotate their counts, so
they run the same number of queries for 3 rows or 300.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from organizations.models import (
    Invitation,
    InvitationStatus,
    Membership,
    MembershipRemoval,
    Organization,
    OrganizationDomain,
    Role,
)
from organizations.services import (
    invitation_revoke,
    membership_add_staff,
    membership_remove,
    organization_delete,
    organization_domain_verify,
)
from seats.selectors import seats_at_renewal, seats_purchased


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def _run_for_each(modeladmin, request, queryset, service, done: str) -> None:
    """Call ``service(obj)`` per row; one failure does not stop the others."""
    ok = 0
    for obj in queryset:
        try:
            service(obj)
            ok += 1
        except (ValidationError, PermissionDenied) as exc:
            modeladmin.message_user(request, f"{obj}: {_error_text(exc)}", messages.ERROR)
    if ok:
        modeladmin.message_user(request, f"{done}: {ok}.", messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Organizations ------------------------------------------------------------------------


class DeletedFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("deleted", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class PlanFilter(admin.SimpleListFilter):
    title = "plan"
    parameter_name = "plan"

    def lookups(self, request, model_admin):
        return [("trial", "Trial (no paid seats)"), ("paid", "Paid")]

    def queryset(self, request, queryset):
        if self.value() == "trial":
            return queryset.filter(seats_purchased__isnull=True)
        if self.value() == "paid":
            return queryset.filter(seats_purchased__isnull=False)
        return queryset


def _count_subquery(model, **filters) -> Coalesce:
    # Subqueries, not joined Counts: two joined Counts multiply each other's rows.
    counted = (
        model.objects.filter(organization=OuterRef("pk"), **filters)
        .order_by()
        .values("organization")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


class StaffAddMemberForm(forms.Form):
    email = forms.EmailField(help_text="An existing user's email address.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def clean_email(self):
        email = self.cleaned_data["email"]
        user = get_user_model().objects.filter(email__iexact=email, is_active=True).first()
        if user is None:
            raise ValidationError(f"No active user has the address {email}.")
        self.cleaned_data["user"] = user
        return email


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "members",
        "pending_invites",
        "used",
        "purchased",
        "at_renewal",
        "created_at",
        "deleted_at",
    ]
    search_fields = ["name", "slug", "email", "domains__domain"]  # see get_search_results
    list_filter = [DeletedFilter, PlanFilter, "created_at"]
    readonly_fields = [
        "created_at",
        "deleted_at",
        "seats_purchased",
        "seats_at_renewal",
        "billing_anchor",
        "trial_ends_at",
        "add_member_link",
    ]
    fields = ["name", "email", "slug", *readonly_fields]
    actions = ["delete_organizations"]
    show_full_result_count = False

    def get_queryset(self, request):
        now = timezone.now()
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_count=_count_subquery(Membership),
                pending_count=_count_subquery(
                    Invitation, status=InvitationStatus.PENDING, expires_at__gt=now
                ),
            )
        )

    def get_search_results(self, request, queryset, search_term):
        """The admin's search (every word must match a search field), with domains
        matched as a semi-join (``pk IN``) rather than the join ``domains__domain``
        would make: a join repeats an organization per matching domain, and the
        DISTINCT that removes them compares every column of every match, the seat
        count subqueries included, and makes the page's COUNT compute them all."""
        for word in smart_split(search_term):
            if len(word) > 1 and word[0] in "\"'" and word[-1] == word[0]:
                word = unescape_string_literal(word)
            domains = OrganizationDomain.objects.filter(domain__icontains=word)
            queryset = queryset.filter(
                Q(name__icontains=word)
                | Q(slug__icontains=word)
                | Q(email__icontains=word)
                | Q(pk__in=domains.values("organization_id"))
            )
        return queryset, False

    @admin.display(description="members", ordering="member_count")
    def members(self, obj):
        return obj.member_count

    @admin.display(description="pending invitations", ordering="pending_count")
    def pending_invites(self, obj):
        return obj.pending_count

    @admin.display(description="used seats")
    def used(self, obj):
        return obj.member_count + obj.pending_count

    @admin.display(description="purchased")
    def purchased(self, obj):
        value = seats_purchased(organization=obj)
        return f"{value} (trial)" if obj.seats_purchased is None else value

    @admin.display(description="at renewal")
    def at_renewal(self, obj):
        return seats_at_renewal(organization=obj)

    @admin.display(description="add a member")
    def add_member_link(self, obj):
        if obj.pk is None or obj.deleted_at is not None:
            return "-"
        url = reverse("admin:organizations_organization_add_member", args=[obj.pk])
        return format_html('<a href="{}">Add a member (uses a seat)</a>', url)

    def has_add_permission(self, request):
        # Organizations are created by their first owner (organization_create).
        return False

    def has_delete_permission(self, request, obj=None):
        # Deletion is soft and goes through the service: see the action.
        return False

    @admin.action(description="Delete selected organizations (members removed, ledger kept)")
    def delete_organizations(self, request, queryset):
        _run_for_each(
            self,
            request,
            queryset,
            lambda org: organization_delete(organization=org, actor=request.user),
            "Organizations deleted",
        )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/add-member/",
                self.admin_site.admin_view(self.add_member_view),
                name="organizations_organization_add_member",
            ),
            *super().get_urls(),
        ]

    def add_member_view(self, request: HttpRequest, object_id: str):
        org = get_object_or_404(Organization.objects.active(), pk=object_id)
        if not self.has_view_permission(request, org):
            raise PermissionDenied
        form = StaffAddMemberForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                membership_add_staff(
                    organization=org,
                    user=form.cleaned_data["user"],
                    role=form.cleaned_data["role"],
                    actor=request.user,
                )
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, _error_text(exc))
            else:
                self.message_user(
                    request, f"{form.cleaned_data['email']} joined {org.name}.", messages.SUCCESS
                )
                return HttpResponseRedirect(
                    reverse("admin:organizations_organization_change", args=[org.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": org,
            "title": f"Add a member to {org.name}",
            "form": form,
        }
        return TemplateResponse(
            request, "admin/organizations/organization/add_member.html", context
        )


# --- Memberships, invitations, tombstones, domains --------------------------------------


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["user", "organization", "role", "joined_via", "created_at"]
    list_select_related = ["user", "organization"]
    list_filter = ["role", "joined_via"]
    search_fields = ["user__email", "organization__name", "organization__slug"]
    actions = ["remove_members"]

    @admin.action(description="Remove selected members (writes tombstones and ledger rows)")
    def remove_members(self, request, queryset):
        _run_for_each(
            self,
            request,
            queryset,
            lambda m: membership_remove(membership=m, actor=request.user),
            "Members removed",
        )


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ["email", "organization", "role", "status", "expires_at", "invited_by"]
    list_select_related = ["organization", "invited_by"]
    list_filter = ["status", "role"]
    search_fields = ["email", "organization__name"]
    exclude = ["token_hash"]
    actions = ["revoke_invitations"]

    @admin.action(description="Revoke selected invitations")
    def revoke_invitations(self, request, queryset):
        _run_for_each(
            self,
            request,
            queryset,
            lambda inv: invitation_revoke(invitation=inv, actor=request.user),
            "Invitations revoked",
        )


@admin.register(MembershipRemoval)
class MembershipRemovalAdmin(ReadOnlyAdmin):
    list_display = ["email", "organization", "previous_role", "reason", "removed_by", "removed_at"]
    list_select_related = ["organization", "removed_by"]
    list_filter = ["reason", "previous_role"]
    search_fields = ["email", "organization__name"]


@admin.register(OrganizationDomain)
class OrganizationDomainAdmin(ReadOnlyAdmin):
    list_display = ["domain", "organization", "created_at", "verified_at"]
    list_select_related = ["organization"]
    list_filter = [("verified_at", admin.EmptyFieldListFilter)]
    search_fields = ["domain", "organization__name"]
    actions = ["verify_domains"]

    @admin.action(description="Verify selected domains (members may then join by email)")
    def verify_domains(self, request, queryset):
        _run_for_each(
            self,
            request,
            queryset,
            lambda d: organization_domain_verify(domain=d, actor=request.user),
            "Domains verified",
        )
