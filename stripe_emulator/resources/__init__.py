"""The /v1 resources. Importing this package registers every route in `routing.ROUTES`."""

from stripe_emulator.resources import (  # noqa: F401
    checkout,
    clocks,
    core,
    entitlements,
    invoices,
    schedules,
    subscriptions,
)
