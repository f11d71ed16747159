"""Staff admin for the Stripe webhook inbox: every delivery the endpoint recorded, its
status and its last error, with "process again" for the failed or stuck ones.

Registered from ``BillingConfig.ready`` (a module of its own, beside ``billing.admin``).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.text import Truncator

from billing import services
from billing.models import WebhookDelivery


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

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
