"""Billing writes: checkout, seat and plan changes, pending changes, the renewal job's
steps, Stripe sync and reconciliation.

Rules kept here:
- Only owners and billing managers act on billing; every service checks the actor.
- Every service locks the organization row before it counts seats, so two billing
  managers, or a join racing a decrease, are serialised.
- Stripe is the truth for what is billed. The organization's mirror fields (tier,
  cycle, purchased seats, period, status) are written only by ``subscription_sync``,
  which reads the subscription back from Stripe and stores it through dj-stripe.
- Increases and upgrades apply now, prorated and invoiced (``always_invoice``).
  Decreases, cycle switches and downgrades become one ``PendingChange`` that the
  renewal job writes into a subscription schedule before the period ends.
- Stripe writes carry idempotency keys derived from absolute targets or from the
  pending change's id and revision, so replays never apply anything twice.

The package's modules: ``common`` (refusals, the actor check, validation, the lock),
``subscriptions`` (what owners and billing managers do, and the Stripe sync),
``renewal`` (the renewal job's steps and reconciliation), ``webhooks`` (the Stripe
webhook inbox) and ``setup``. Import from here.
"""

from billing.services.common import (
    ACTIVE_STATUSES,
    MAX_SEATS,
    BillingRefused,
    billing_authorize,
    plan_resolve,
    seats_validate,
)
from billing.services.renewal import (
    drift_repair,
    pending_change_confirm,
    pending_change_record_error,
    pending_change_schedule,
    reconcile_organization,
    renew_now,
    renewal_run,
)
from billing.services.setup import billing_catalog_ensure, trial_extend, webhook_endpoint_ensure
from billing.services.subscriptions import (
    PlanPreview,
    SeatPreview,
    billing_customer_ensure,
    checkout_session_complete,
    checkout_start,
    cycle_change_schedule,
    invoices_sync,
    pending_change_cancel,
    plan_change,
    plan_change_preview,
    plan_downgrade_schedule,
    plan_upgrade,
    seat_change_preview,
    seats_change,
    seats_decrease_schedule,
    seats_increase,
    subscription_cancel,
    subscription_sync,
    subscription_uncancel,
)
from billing.services.webhooks import (
    webhook_deliveries_prune,
    webhook_deliveries_requeue_stuck,
    webhook_deliveries_retry,
    webhook_delivery_process,
    webhook_delivery_receive,
)

__all__ = [
    "ACTIVE_STATUSES",
    "MAX_SEATS",
    "BillingRefused",
    "PlanPreview",
    "SeatPreview",
    "billing_authorize",
    "billing_catalog_ensure",
    "billing_customer_ensure",
    "checkout_session_complete",
    "checkout_start",
    "cycle_change_schedule",
    "drift_repair",
    "invoices_sync",
    "pending_change_cancel",
    "pending_change_confirm",
    "pending_change_record_error",
    "pending_change_schedule",
    "plan_change",
    "plan_change_preview",
    "plan_downgrade_schedule",
    "plan_resolve",
    "plan_upgrade",
    "reconcile_organization",
    "renew_now",
    "renewal_run",
    "seat_change_preview",
    "seats_change",
    "seats_decrease_schedule",
    "seats_increase",
    "seats_validate",
    "subscription_cancel",
    "subscription_sync",
    "subscription_uncancel",
    "trial_extend",
    "webhook_deliveries_prune",
    "webhook_deliveries_requeue_stuck",
    "webhook_deliveries_retry",
    "webhook_delivery_process",
    "webhook_delivery_receive",
    "webhook_endpoint_ensure",
]
