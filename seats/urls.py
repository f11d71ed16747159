"""The usage report and its exports, under /o/<slug>/."""

from django.urls import path

from seats import views

urlpatterns = [
    path("usage/", views.usage, name="usage"),
    path("usage/export.csv", views.usage_csv, name="usage-csv"),
    path("usage/export.json", views.usage_json, name="usage-json"),
]
