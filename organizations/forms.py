"""Forms for sign-up, organizations and members. They check the shape of the input
only; every rule (seats, roles, last owner) is the services' to enforce."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import transaction

from organizations.models import Role
from organizations.services import organization_create

User = get_user_model()


class SignupForm(forms.Form):
    """A new account (username = email) and, unless they came to accept an invitation,
    their first organization, created in the same transaction."""

    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autofocus": True}))
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not only digits, not a common password.",
    )
    organization_name = forms.CharField(label="Organization name", max_length=200, required=False)

    def __init__(self, *args, needs_organization: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.needs_organization = needs_organization
        if needs_organization:
            self.fields["organization_name"].required = True
        else:
            del self.fields["organization_name"]

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(username__iexact=email).exists():
            raise ValidationError(
                "An account with this email already exists. Sign in instead.",
                code="duplicate_email",
            )
        return email

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        email = cleaned.get("email")
        if password:
            try:
                password_validation.validate_password(
                    password, User(username=email or "", email=email or "")
                )
            except ValidationError as exc:
                self.add_error("password", exc)
        return cleaned

    def save(self):
        data = self.cleaned_data
        with transaction.atomic():
            user = User.objects.create_user(
                username=data["email"], email=data["email"], password=data["password"]
            )
            org = None
            if self.needs_organization:
                org = organization_create(name=data["organization_name"], creator=user)
        return user, org


class OrganizationCreateForm(forms.Form):
    name = forms.CharField(label="Organization name", max_length=200)


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    # Blank means member, the common case (and what a plain email-only post means).
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER, required=False)

    def __init__(self, *args, can_grant_managers: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_grant_managers:
            # Only owners hand out owner and billing manager roles; the service refuses
            # it too, the form just does not offer it.
            self.fields["role"].choices = [(Role.MEMBER, Role.MEMBER.label)]

    def clean_role(self) -> str:
        return self.cleaned_data["role"] or Role.MEMBER


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
