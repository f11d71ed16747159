"""The subscription page and its actions, under /o/<slug>/billing/."""

from django.urls import path

from billing import views

urlpatterns = [
    path("", views.subscription, name="subscription"),
    path("seats/preview/", views.seats_preview, name="seats-preview"),
    path("seats/preview.json", views.seats_preview_live, name="seats-preview-live"),
    path("seats/", views.seats_confirm, name="seats-confirm"),
    path("cycle/preview/", views.cycle_preview, name="cycle-preview"),
    path("cycle/", views.cycle_confirm, name="cycle-confirm"),
    path("plan/preview/", views.plan_preview, name="plan-preview"),
    path("plan/", views.plan_confirm, name="plan-confirm"),
    path("cancel/", views.cancel, name="subscription-cancel"),
    path("uncancel/", views.uncancel, name="subscription-uncancel"),
    path("pending/<int:change_id>/cancel/", views.pending_cancel, name="pending-cancel"),
    path("checkout/preview/", views.checkout_preview, name="checkout-preview"),
    path("checkout/", views.checkout, name="checkout"),
    path("checkout/done/", views.checkout_done, name="checkout-done"),
]
