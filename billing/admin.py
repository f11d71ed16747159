"""Staff admin for billing: the organization list with its plan, status, seats and drift
flag; pending changes; reconciliation drift; the Stripe webhook inbox. Records are
read-only; every action calls a billing service and reports each row's outcome, Stripe
errors included.

The organization admin is ``organizations.admin.OrganizationAdmin`` extended here and
re-registered, because apps depend one way (billing → organizations): the tenant app
knows nothing about plans, Stripe or drift.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from billing import catalog, services
from billing.gateway import StripeGatewayError
from billing.models import Drift, PendingChange, WebhookDelivery
from billing.selectors import Status, subscription_status, subscription_summary
from organizations.admin import OrganizationAdmin
from organizations.models import Organization

logger = logging.getLogger(__name__)

# What a service may refuse with, per row; anything else is a bug and should be loud.
ROW_ERRORS = (ValidationError, PermissionDenied, StripeGatewayError, ObjectDoesNotExist)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, StripeGatewayError):
        return f"Stripe: {exc.message}"
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def _per_row(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    rows,
    run: Callable[[object], str | tuple[str, int]],
    *,
    label: Callable[[object], str] = str,
) -> None:
    """Run ``run(row)`` for each row and report each outcome (a text, or a text and a
    message level); one refusal or Stripe failure does not stop the others."""
    for row in rows:
        try:
            outcome = run(row)
        except ROW_ERRORS as exc:
            logger.info("admin action refused for %s: %s", row, type(exc).__name__)
            modeladmin.message_user(request, f"{label(row)}: {_error_text(exc)}", messages.ERROR)
        else:
            text, level = outcome if isinstance(outcome, tuple) else (outcome, messages.SUCCESS)
            modeladmin.message_user(request, f"{label(row)}: {text}", level)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Organizations, with billing -------------------------------------------------------


class OpenDriftFilter(admin.SimpleListFilter):
    title = "drift"
    parameter_name = "drift"

    def lookups(self, request, model_admin):
        return [("yes", "Open drift"), ("no", "In step with Stripe")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(has_open_drift=True)
        if self.value() == "no":
            return queryset.filter(has_open_drift=False)
        return queryset


class ExtendTrialForm(forms.Form):
    # The service checks the range too; the form says it before anything runs.
    days = forms.IntegerField(min_value=1, max_value=365, initial=14, help_text="1 to 365.")


admin.site.unregister(Organization)


@admin.register(Organization)
class BillingOrganizationAdmin(OrganizationAdmin):
    list_display = [
        "name",
        "slug",
        "plan",
        "status",
        "purchased",
        "used",
        "at_renewal",
        "drift",
        "pending_change",
        "members",
        "pending_invites",
        "created_at",
        "deleted_at",
    ]
    list_filter = [
        OpenDriftFilter,
        "subscription_status",
        "plan_tier",
        "billing_cycle",
        *OrganizationAdmin.list_filter,
    ]
    readonly_fields = [
        "billing_summary",
        *OrganizationAdmin.readonly_fields,
        "stripe_subscription_id",
        "subscription_status",
        "plan_tier",
        "billing_cycle",
        "current_period_start",
        "current_period_end",
        "cancel_at_period_end",
        "billing_synced_at",
    ]
    fields = ["name", "email", "slug", *readonly_fields]
    actions = [
        *OrganizationAdmin.actions,
        "resync_from_stripe",
        "reconcile_now",
        "extend_trial",
        "renew_now",
    ]

    def get_queryset(self, request):
        open_drift = Drift.objects.filter(organization=OuterRef("pk"), resolved_at__isnull=True)
        pending = PendingChange.objects.filter(
            organization=OuterRef("pk"), status=PendingChange.Status.PENDING
        )
        return (
            super()
            .get_queryset(request)
            .annotate(has_open_drift=Exists(open_drift), has_pending_change=Exists(pending))
        )

    # Columns. Status reads only the row's own fields, so the selector's rule is used
    # as it is, per row, with no query.

    @admin.display(description="plan", ordering="plan_tier")
    def plan(self, obj: Organization) -> str:
        if not obj.plan_tier:
            return "-"
        try:
            return catalog.plan_get(tier=obj.plan_tier, cycle=obj.billing_cycle).name
        except catalog.UnknownPlan:
            return f"{obj.plan_tier} {obj.billing_cycle} (not in catalog)"

    @admin.display(description="status", ordering="subscription_status")
    def status(self, obj: Organization) -> str:
        return Status.LABELS[subscription_status(organization=obj)]

    @admin.display(description="drift", boolean=True, ordering="has_open_drift")
    def drift(self, obj: Organization) -> bool:
        return obj.has_open_drift

    @admin.display(description="pending change", boolean=True, ordering="has_pending_change")
    def pending_change(self, obj: Organization) -> bool:
        return obj.has_pending_change

    @admin.display(description="billing summary")
    def billing_summary(self, obj: Organization) -> str:
        # The change page only (a few queries); the list uses the annotations above.
        if obj.pk is None:
            return "-"
        summary = subscription_summary(organization=obj)
        change = summary.pending_change
        amount = summary.next_invoice_amount
        return format_html(
            "{} · {} · {} purchased, {} used, {} at renewal · next invoice: {} · "
            "pending change: {}",
            summary.status_label,
            summary.plan.name if summary.plan else "no plan",
            summary.purchased,
            summary.used,
            summary.at_renewal,
            f"${amount / 100:,.2f} on {summary.period_end:%Y-%m-%d} UTC"
            if amount is not None and summary.period_end
            else "none",
            change.describe() if change else "none",
        )

    # Actions.

    @admin.action(description="Resync from Stripe")
    def resync_from_stripe(self, request, queryset: QuerySet[Organization]):
        def run(org: Organization) -> str:
            org = services.subscription_sync(organization=org)
            if not org.stripe_subscription_id:
                return "no subscription at Stripe; nothing to sync."
            label = Status.LABELS[subscription_status(organization=org)]
            return f"synced: {label}, {org.seats_purchased} seats paid."

        _per_row(self, request, queryset.filter(deleted_at__isnull=True), run)

    @admin.action(description="Reconcile with Stripe now (opens or closes drift)")
    def reconcile_now(self, request, queryset: QuerySet[Organization]):
        def run(org: Organization) -> str:
            if not org.stripe_subscription_id:
                return "no subscription; nothing to compare."
            drifts = services.reconcile_organization(organization=org)
            if not drifts:
                return "in step with Stripe."
            return "drift: " + "; ".join(d.detail for d in drifts)

        _per_row(self, request, queryset.filter(deleted_at__isnull=True), run)

    @admin.action(description="Extend trial…")
    def extend_trial(self, request, queryset: QuerySet[Organization]):
        form = ExtendTrialForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            days = form.cleaned_data["days"]

            def run(org: Organization) -> str:
                org = services.trial_extend(organization=org, actor=request.user, days=days)
                return f"trial now ends {org.trial_ends_at:%Y-%m-%d %H:%M} UTC."

            _per_row(self, request, queryset.filter(deleted_at__isnull=True), run)
            return None  # back to the changelist, which shows the messages
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Extend trial",
            "form": form,
            "organizations": queryset,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "admin/billing/extend_trial.html", context)

    @admin.action(description="Renew now (test clock: runs the renewal)")
    def renew_now(self, request, queryset: QuerySet[Organization]):
        def run(org: Organization) -> str:
            result = services.renew_now(organization=org, actor=request.user)
            org.refresh_from_db()
            change = f", pending change {result['change']}" if "change" in result else ""
            return (
                f"renewed{change}; {org.seats_purchased} seats until "
                f"{org.current_period_end:%Y-%m-%d %H:%M} UTC."
            )

        _per_row(self, request, queryset.filter(deleted_at__isnull=True), run)


# --- Pending changes and drift ---------------------------------------------------------


@admin.register(PendingChange)
class PendingChangeAdmin(ReadOnlyAdmin):
    list_display = [
        "organization",
        "status",
        "describe",
        "effective_at",
        "scheduled_at",
        "applied_at",
        "missed_window",
        "attempts",
        "last_error",
    ]
    list_filter = ["status", "missed_window"]
    list_select_related = ["organization"]
    search_fields = ["organization__name", "organization__slug", "stripe_subscription_id"]
    date_hierarchy = "effective_at"
    actions = ["apply_now"]
    show_full_result_count = False

    @admin.display(description="Change")
    def describe(self, obj):
        return obj.describe()

    @admin.action(description="Write to Stripe now (schedule for the renewal) and confirm")
    def apply_now(self, request, queryset):
        now = timezone.now()

        def run(change: PendingChange) -> str:
            scheduled = services.pending_change_schedule(change_id=change.pk, now=now)
            confirmed = services.pending_change_confirm(change_id=change.pk, now=now)
            return f"{scheduled}, then {confirmed}."

        pending = queryset.filter(status=PendingChange.Status.PENDING).select_related(
            "organization"
        )
        _per_row(self, request, pending, run, label=lambda change: str(change.organization))


@admin.register(Drift)
class DriftAdmin(ReadOnlyAdmin):
    list_display = [
        "organization",
        "kind",
        "detected_at",
        "used",
        "app_purchased",
        "stripe_quantity",
        "schedule_next_quantity",
        "detail",
        "resolved_at",
    ]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter)]
    list_select_related = ["organization"]
    search_fields = ["organization__name", "organization__slug"]
    show_full_result_count = False
    actions = ["repair"]

    @admin.action(description="Repair: resync from Stripe and rewrite the schedule")
    def repair(self, request, queryset):
        def run(drift: Drift) -> tuple[str, int]:
            result = services.drift_repair(drift=drift, actor=request.user)
            drift.refresh_from_db()
            return result, messages.SUCCESS if drift.resolved_at else messages.WARNING

        open_drifts = queryset.filter(resolved_at__isnull=True).select_related("organization")
        _per_row(self, request, open_drifts, run, label=lambda drift: str(drift.organization))


# --- The webhook inbox: every delivery, its status and last error ------------------------


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "event_id",
        "event_type",
        "status",
        "attempts",
        "received_at",
        "processed_at",
        "error",
    ]
    list_filter = ["status"]
    search_fields = ["=event_id", "event_type"]
    date_hierarchy = "received_at"
    ordering = ["-received_at"]
    show_full_result_count = False
    actions = ["process_again"]

    @admin.display(description="last error")
    def error(self, obj: WebhookDelivery) -> str:
        return Truncator(obj.last_error).chars(120)

    @admin.action(description="Process again (deliveries not yet processed)")
    def process_again(self, request, queryset):
        ids = list(queryset.values_list("event_id", flat=True))
        queued = services.webhook_deliveries_retry(event_ids=ids)
        skipped = len(ids) - queued
        self.message_user(
            request,
            f"{queued} queued for processing"
            + (f"; {skipped} already processed or ignored, left alone." if skipped else "."),
            messages.SUCCESS,
        )
