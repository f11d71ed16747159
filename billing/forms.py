"""Forms for the subscription page. They check types only (a whole number, a known
choice); limits and eligibility are refused by the billing services, whose messages
the page shows as written."""

from __future__ import annotations

from django import forms

from billing import catalog


def _tier_choices() -> list[tuple[str, str]]:
    return list(catalog.tier_names().items())


def _cycle_choices() -> list[tuple[str, str]]:
    return list(catalog.Cycle.LABELS.items())


class SeatsForm(forms.Form):
    seats = forms.IntegerField(
        label="Seats",
        error_messages={
            "required": "Enter the number of seats.",
            "invalid": "Enter the number of seats as a whole number.",
        },
        widget=forms.NumberInput(attrs={"min": 1, "inputmode": "numeric"}),
    )


class CycleForm(forms.Form):
    cycle = forms.ChoiceField(choices=_cycle_choices)


class PlanForm(forms.Form):
    tier = forms.ChoiceField(label="Plan", choices=_tier_choices)


class CheckoutForm(SeatsForm):
    tier = forms.ChoiceField(label="Plan", choices=_tier_choices)
    cycle = forms.ChoiceField(label="Billing", choices=_cycle_choices)
