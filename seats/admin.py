"""The ledger in the admin: viewable, filterable, and impossible to add, change or
delete (the model and the database refuse too).

The ledger only grows, so its changelist must not cost more as it does: the unfiltered
page is read through the primary key (``get_ordering``) and counted from PostgreSQL's
row estimate once the table is large (``LedgerPaginator``), and dates are filtered by
range instead of a date hierarchy, which scanned the ledger twice per page for its
year links.
"""

from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

from seats.models import SeatUsageEvent

UNFILTERED_PARAMS = {PAGE_VAR, ORDER_VAR}
LEDGER_FIELDS = [f.name for f in SeatUsageEvent._meta.concrete_fields]


class LedgerPaginator(Paginator):
    """Counts exactly, except the whole ledger once PostgreSQL estimates it above
    ``ESTIMATE_ABOVE`` rows: then the "N seat usage events" total is the planner's
    estimate (kept current by autovacuum), not a COUNT(*) over millions of rows.

    One query either way, so the changelist's query count stays the same at any size:
    the exact count is a subquery PostgreSQL runs only when the estimate is small."""

    ESTIMATE_ABOVE = 100_000
    estimated = False  # the page says "about" when it is (seatusageevent/pagination.html)

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        connection = connections[queryset.db]
        if queryset.query.where or connection.vendor != "postgresql":
            return super().count
        table = connection.ops.quote_name(queryset.model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples >= %s, CASE WHEN reltuples >= %s THEN reltuples::bigint "
                f"ELSE (SELECT COUNT(*) FROM {table}) END "
                "FROM pg_class WHERE oid = %s::regclass",
                [self.ESTIMATE_ABOVE, self.ESTIMATE_ABOVE, table],
            )
            self.estimated, total = cursor.fetchone()
            return int(total)


@admin.register(SeatUsageEvent)
class SeatUsageEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "organization", "count", "delta", "cause", "actor"]
    list_select_related = ["organization", "actor"]
    list_filter = ["cause", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["organization__name", "organization__slug"]
    paginator = LedgerPaginator
    show_full_result_count = False

    def get_queryset(self, request):
        # Each row shows the organization's and the actor's names only; a page is 100
        # rows of two joined tables, so fetch those columns, not the whole rows.
        return (
            super()
            .get_queryset(request)
            .only(*LEDGER_FIELDS, "organization__name", "actor__username")
        )

    def get_ordering(self, request):
        """Newest first. Unfiltered, that is the ledger's own order (ids, appended in
        order), read backwards through the primary key without sorting the ledger; a
        search or filter keeps date order, which PostgreSQL serves by finding the
        matching rows first. (Ordering those by id too lets it walk the whole ledger
        backwards by id looking for an old organization's rows.)"""
        if set(request.GET) <= UNFILTERED_PARAMS:
            return ["-id"]
        return ["-created_at", "-id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
