"""Staff views of pending changes and reconciliation drift. Read-only records; every
action calls a billing service."""

from django.contrib import admin, messages
from django.utils import timezone

from billing import services
from billing.gateway import StripeGatewayError
from billing.models import Drift, PendingChange


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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

    @admin.display(description="Change")
    def describe(self, obj):
        return obj.describe()

    @admin.action(description="Write to Stripe now (schedule for the renewal) and confirm")
    def apply_now(self, request, queryset):
        now = timezone.now()
        for change in queryset.filter(status=PendingChange.Status.PENDING):
            try:
                scheduled = services.pending_change_schedule(change_id=change.pk, now=now)
                confirmed = services.pending_change_confirm(change_id=change.pk, now=now)
            except StripeGatewayError as exc:
                self.message_user(request, f"{change}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{change.organization}: {scheduled}, then {confirmed}.")


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
        "resolved_at",
    ]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter)]
    list_select_related = ["organization"]
    search_fields = ["organization__name", "organization__slug"]
    actions = ["repair"]

    @admin.action(description="Repair: resync from Stripe and rewrite the schedule")
    def repair(self, request, queryset):
        for drift in queryset.filter(resolved_at__isnull=True).select_related("organization"):
            try:
                result = services.drift_repair(drift=drift, actor=request.user)
            except StripeGatewayError as exc:
                result = exc.message
            self.message_user(request, f"{drift.organization}: {result}")
