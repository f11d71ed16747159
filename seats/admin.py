"""The ledger in the admin: viewable, filterable, and impossible to add, change or
delete (the model and the database refuse too)."""

from django.contrib import admin

from seats.models import SeatUsageEvent


@admin.register(SeatUsageEvent)
class SeatUsageEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "organization", "count", "delta", "cause", "actor"]
    list_select_related = ["organization", "actor"]
    list_filter = ["cause"]
    search_fields = ["organization__name", "organization__slug"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
