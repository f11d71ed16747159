"""Billing: plan catalog, the Stripe gateway, checkout, seat and cycle changes, pending
changes, dj-stripe webhook receivers and the Celery renewal tasks.
"""
