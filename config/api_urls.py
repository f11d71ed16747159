"""Routes of the JSON API (mounted at /api/ by config.urls).

``v1/orgs/<slug>/...`` is org-scoped; ``schema/`` is the OpenAPI document and
``docs/`` renders it. Anything else under /api/ answers 404 in the API's error shape.
"""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from billing.api import BillingSummaryView, EntitlementsView
from config.api import NotFoundView
from organizations.api import AuthTokenView, InvitationCreateView, MemberListView
from seats.api import UsageReportView

org = "v1/orgs/<slug:slug>/"

urlpatterns = [
    path("v1/auth/token/", AuthTokenView.as_view(), name="api-token"),
    path(f"{org}billing/", BillingSummaryView.as_view(), name="api-billing"),
    path(f"{org}entitlements/", EntitlementsView.as_view(), name="api-entitlements"),
    path(f"{org}usage/", UsageReportView.as_view(), name="api-usage"),
    path(f"{org}members/", MemberListView.as_view(), name="api-members"),
    path(f"{org}invitations/", InvitationCreateView.as_view(), name="api-invitations"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^.*$", NotFoundView.as_view(), name="api-not-found"),
]
