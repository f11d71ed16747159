from django.conf import settings
from django.db import models
from django.db.models import Q


class PendingChange(models.Model):
    """What the customer asked to change at the next renewal: seats, cycle or tier.

    One open change per organization: a later request for the same renewal updates it.
    Blank targets mean "unchanged". The renewal job writes the change into a Stripe
    subscription schedule before ``effective_at`` (``scheduled_at`` records that) and,
    after the renewal, confirms it and marks it applied.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLIED = "applied", "Applied"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="pending_changes"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # What is billed now, when the change was asked for.
    from_quantity = models.PositiveIntegerField()
    from_tier = models.CharField(max_length=32)
    from_cycle = models.CharField(max_length=16)
    # What the next period bills.
    target_quantity = models.PositiveIntegerField()
    target_tier = models.CharField(max_length=32)
    target_cycle = models.CharField(max_length=16)
    stripe_subscription_id = models.CharField(max_length=255)
    effective_at = models.DateTimeField(help_text="The renewal this change waits for.")

    stripe_schedule_id = models.CharField(max_length=255, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    missed_window = models.BooleanField(
        default=False,
        help_text="The renewal passed before the change reached Stripe; staff should look.",
    )
    # Bumped on every edit so each version of the phases gets its own idempotency key.
    revision = models.PositiveIntegerField(default=1)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(status="pending"),
                name="one_pending_change_per_org",
            ),
            models.CheckConstraint(
                condition=Q(target_quantity__gte=1), name="pending_change_target_positive"
            ),
        ]
        indexes = [models.Index(fields=["status", "effective_at"])]

    def __str__(self):
        return f"{self.organization} → {self.describe()} ({self.status})"

    @property
    def changes_quantity(self) -> bool:
        return self.target_quantity != self.from_quantity

    @property
    def changes_cycle(self) -> bool:
        return self.target_cycle != self.from_cycle

    @property
    def changes_tier(self) -> bool:
        return self.target_tier != self.from_tier

    @property
    def is_noop(self) -> bool:
        return not (self.changes_quantity or self.changes_cycle or self.changes_tier)

    def describe(self) -> str:
        parts = []
        if self.changes_quantity:
            parts.append(f"{self.from_quantity} → {self.target_quantity} seats")
        if self.changes_tier:
            parts.append(f"{self.from_tier} → {self.target_tier}")
        if self.changes_cycle:
            parts.append(f"{self.from_cycle} → {self.target_cycle}")
        return ", ".join(parts) or "no change"


class Drift(models.Model):
    """A reconciliation finding: the app and Stripe disagree about an organization."""

    class Kind(models.TextChoices):
        OVER_USED = "over_used", "More seats used than purchased"
        PURCHASED_MISMATCH = "purchased_mismatch", "App's purchased seats differ from Stripe"
        RENEWAL_MISMATCH = "renewal_mismatch", "Next schedule phase differs from the change"
        RENEWAL_BELOW_USED = "renewal_below_used", "Seats at renewal below seats used"

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="drifts"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    detected_at = models.DateTimeField()
    used = models.PositiveIntegerField()
    app_purchased = models.PositiveIntegerField(null=True)
    stripe_quantity = models.PositiveIntegerField(null=True)
    schedule_next_quantity = models.PositiveIntegerField(null=True)
    detail = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolution = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_drift_per_kind",
            )
        ]

    def __str__(self):
        return f"{self.organization}: {self.get_kind_display()}"


class WebhookDelivery(models.Model):
    """A Stripe event received at the webhook endpoint: the inbox row.

    The endpoint checks the signature, stores the event under Stripe's id (unique, so a
    duplicate delivery finds the row and stops there) and answers 200; the
    task ``billing.tasks.webhook_delivery_process`` runs dj-stripe's processing later.
    ``status`` becomes ``processed`` in the same transaction as dj-stripe's ``Event`` row
    and our receivers' tasks, so each event is processed once; a failure leaves the row
    ``failed`` with its error, for a retry.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received, waiting for a worker"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed (retried)"
        IGNORED = "ignored", "Ignored: names an object Stripe does not have"

    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=250)
    webhook_endpoint = models.ForeignKey(
        "djstripe.WebhookEndpoint",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # never looked up by endpoint; one index less per delivery
    )
    body = models.TextField(help_text="The event exactly as Stripe signed it.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event_id"], name="webhook_delivery_event_id_unique")
        ]

    def __str__(self):
        return f"{self.event_id} ({self.event_type}): {self.status}"
