"""Accounts (Django's auth views plus sign-up), invitations, and the members pages."""

from django.urls import include, path

from organizations import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/signup/", views.signup, name="signup"),
    # Django's sign-in page behind a rate limit for failed attempts (organizations.ratelimit).
    path("accounts/login/", views.login_page, name="login"),
    # logout (POST), password change and password reset by email.
    path("accounts/", include("django.contrib.auth.urls")),
    path("orgs/new/", views.organization_new, name="organization-new"),
    path("invitations/<str:token>/", views.invitation_accept_page, name="invitation-accept"),
    path("o/<slug:slug>/", views.organization_home, name="organization-home"),
    path("o/<slug:slug>/members/", views.members, name="members"),
    path("o/<slug:slug>/members/invite/", views.invite, name="invite"),
    path(
        "o/<slug:slug>/invitations/<int:invitation_id>/resend/",
        views.invitation_resend_view,
        name="invitation-resend",
    ),
    path(
        "o/<slug:slug>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke_view,
        name="invitation-revoke",
    ),
    path(
        "o/<slug:slug>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member-remove",
    ),
    path("o/<slug:slug>/members/<int:membership_id>/role/", views.member_role, name="member-role"),
    path("o/<slug:slug>/leave/", views.leave, name="leave"),
]
