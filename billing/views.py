"""The subscription page and its confirmations (owners and billing managers only).

Money moves only after a confirmation page: a seat increase, an upgrade and a checkout
each POST to a preview URL first, which renders what will be charged, and a Confirm
button POSTs the change itself. Everything shown comes from ``billing.selectors`` and
the services' previews; refusals are shown as the services word them.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from billing import catalog
from billing.forms import CheckoutForm, CycleForm, PlanForm, SeatsForm
from billing.gateway import StripeGatewayError
from billing.models import PendingChange
from billing.selectors import (
    checkout_defaults,
    cycle_change_comparison,
    invoices_for_organization,
    subscription_summary,
    trial_state,
)
from billing.services import (
    checkout_session_complete,
    checkout_start,
    cycle_change_schedule,
    pending_change_cancel,
    plan_change,
    plan_change_preview,
    seat_change_preview,
    seats_change,
    subscription_cancel,
    subscription_uncancel,
)
from organizations.exceptions import NotAllowed
from organizations.selectors import membership_can_manage_billing
from organizations.templatetags.seatwise import localdate, money
from organizations.views import org_nav, org_view, refusal_text

# What a service may refuse with: a broken rule, a role, or Stripe saying no.
REFUSALS = (ValidationError, NotAllowed, StripeGatewayError)


def billing_banner(request: HttpRequest) -> dict:
    """Context processor: the trial banner on every org page, for the people who can
    act on it (members see no billing at all)."""
    organization = getattr(request, "organization", None)
    membership = getattr(request, "membership", None)
    if organization is None or membership is None:
        return {}
    if not membership_can_manage_billing(membership=membership):
        return {}
    trial = trial_state(organization=organization)
    if trial is None:
        return {}
    return {"trial": trial, "trial_slug": organization.slug}


def _to_subscription(organization) -> HttpResponse:
    return redirect("subscription", slug=organization.slug)


def _subscription_page(
    request: HttpRequest, organization, membership, *, forms: dict | None = None, status=200
) -> HttpResponse:
    now = timezone.now()
    summary = subscription_summary(organization=organization)
    defaults = None
    if not summary.is_subscribed:
        defaults = checkout_defaults(organization=organization, now=now, used=summary.used)
    context = {
        **org_nav(organization=organization, membership=membership, tab="billing"),
        "summary": summary,
        "invoices": invoices_for_organization(organization=organization),
        "plans": catalog.plans(),
        "seats_form": SeatsForm(initial={"seats": summary.purchased}),
        "cycle_form": CycleForm(),
        "plan_form": PlanForm(),
        "checkout_form": CheckoutForm(
            initial={"tier": defaults.tier, "cycle": defaults.cycle, "seats": defaults.seats}
        )
        if defaults
        else None,
        "other_cycle": _other_cycle(summary),
        "other_tiers": [
            (tier, name)
            for tier, name in catalog.tier_names().items()
            if summary.next_plan is None or tier != summary.next_plan.tier
        ],
        **(forms or {}),
    }
    return render(request, "billing/subscription.html", context, status=status)


def _other_cycle(summary) -> str | None:
    if summary.next_plan is None:
        return None
    current = summary.next_plan.cycle
    return catalog.Cycle.ANNUAL if current == catalog.Cycle.MONTHLY else catalog.Cycle.MONTHLY


@org_view(billing=True)
@require_GET
def subscription(request, organization, membership) -> HttpResponse:
    return _subscription_page(request, organization, membership)


# --- Seats -------------------------------------------------------------------------------


@org_view(billing=True)
@require_POST
def seats_preview(request, organization, membership) -> HttpResponse:
    form = SeatsForm(request.POST)
    if not form.is_valid():
        return _subscription_page(
            request, organization, membership, forms={"seats_form": form}, status=400
        )
    try:
        preview = seat_change_preview(
            organization=organization, actor=request.user, seats=form.cleaned_data["seats"]
        )
    except REFUSALS as exc:
        form.add_error("seats", refusal_text(exc))
        return _subscription_page(
            request, organization, membership, forms={"seats_form": form}, status=400
        )
    return render(
        request,
        "billing/seats_confirm.html",
        {
            **org_nav(organization=organization, membership=membership, tab="billing"),
            "preview": preview,
            "summary": subscription_summary(organization=organization),
        },
    )


@org_view(billing=True)
@require_GET
def seats_preview_live(request, organization, membership) -> JsonResponse:
    """The same preview as the confirmation step, as JSON for the form's live figure
    (progressive enhancement: the form works without it)."""
    form = SeatsForm(request.GET)
    if not form.is_valid():
        return JsonResponse({"error": " ".join(form.errors["seats"])}, status=400)
    try:
        preview = seat_change_preview(
            organization=organization, actor=request.user, seats=form.cleaned_data["seats"]
        )
    except REFUSALS as exc:
        return JsonResponse({"error": refusal_text(exc)}, status=400)
    if preview.effective_at is None:
        text = (
            f"{money(preview.amount_due)} charged now (prorated); renewals then bill "
            f"{money(preview.renewal_amount)}."
        )
    elif preview.seats_to == preview.seats_from:
        text = "No change to your seats."
    else:
        text = (
            f"Drops to {preview.seats_to} at renewal on "
            f"{localdate(preview.effective_at)}; nothing is charged or credited now."
        )
    return JsonResponse(
        {"seats": preview.seats_to, "amount_due": preview.amount_due, "summary": text}
    )


@org_view(billing=True)
@require_POST
def seats_confirm(request, organization, membership) -> HttpResponse:
    form = SeatsForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["seats"]))
        return _to_subscription(organization)
    seats = form.cleaned_data["seats"]
    try:
        change = seats_change(organization=organization, actor=request.user, seats=seats)
    except REFUSALS as exc:
        messages.error(request, refusal_text(exc))
        return _to_subscription(organization)
    if isinstance(change, PendingChange):
        messages.success(
            request,
            f"Seats drop to {change.target_quantity} at renewal on "
            f"{timezone.localtime(change.effective_at):%-d %b %Y}. Nothing is charged now.",
        )
    elif change is None:
        messages.success(request, "The pending seat change was withdrawn.")
    else:
        messages.success(request, f"You now have {seats} seats. The prorated charge is paid.")
    return _to_subscription(organization)


# --- Billing cycle ------------------------------------------------------------------------


@org_view(billing=True)
@require_POST
def cycle_preview(request, organization, membership) -> HttpResponse:
    form = CycleForm(request.POST)
    summary = subscription_summary(organization=organization)
    if not form.is_valid() or summary.plan is None:
        messages.error(request, "Choose monthly or annual billing on a subscribed plan.")
        return _to_subscription(organization)
    cycle = form.cleaned_data["cycle"]
    return render(
        request,
        "billing/cycle_confirm.html",
        {
            **org_nav(organization=organization, membership=membership, tab="billing"),
            "summary": summary,
            "cycle": cycle,
            "comparison": cycle_change_comparison(organization=organization, cycle=cycle),
        },
    )


@org_view(billing=True)
@require_POST
def cycle_confirm(request, organization, membership) -> HttpResponse:
    form = CycleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose monthly or annual billing.")
        return _to_subscription(organization)
    try:
        change = cycle_change_schedule(
            organization=organization, actor=request.user, cycle=form.cleaned_data["cycle"]
        )
    except REFUSALS as exc:
        messages.error(request, refusal_text(exc))
        return _to_subscription(organization)
    label = catalog.Cycle.LABELS[form.cleaned_data["cycle"]].lower()
    if change is None:
        messages.success(request, f"Billing stays {label}; the pending change was withdrawn.")
    else:
        messages.success(
            request,
            f"Billing switches to {label} at renewal on "
            f"{timezone.localtime(change.effective_at):%-d %b %Y}. Nothing is charged now.",
        )
    return _to_subscription(organization)


# --- Plan tier ------------------------------------------------------------------------------


@org_view(billing=True)
@require_POST
def plan_preview(request, organization, membership) -> HttpResponse:
    form = PlanForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a plan.")
        return _to_subscription(organization)
    tier = form.cleaned_data["tier"]
    try:
        preview = plan_change_preview(organization=organization, actor=request.user, tier=tier)
    except REFUSALS as exc:
        messages.error(request, refusal_text(exc))
        return _to_subscription(organization)
    return render(
        request,
        "billing/plan_confirm.html",
        {
            **org_nav(organization=organization, membership=membership, tab="billing"),
            "summary": subscription_summary(organization=organization),
            "tier": tier,
            "preview": preview,
        },
    )


@org_view(billing=True)
@require_POST
def plan_confirm(request, organization, membership) -> HttpResponse:
    form = PlanForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the plans on this page.")
        return _to_subscription(organization)
    tier = form.cleaned_data["tier"]
    try:
        result = plan_change(organization=organization, actor=request.user, tier=tier)
    except REFUSALS as exc:
        messages.error(request, refusal_text(exc))
        return _to_subscription(organization)
    name = catalog.tier_names()[tier]
    if isinstance(result, PendingChange):
        messages.success(
            request,
            f"You move to {name} at renewal on "
            f"{timezone.localtime(result.effective_at):%-d %b %Y}.",
        )
    elif result is None:
        messages.success(request, f"You stay on {name}; the pending change was withdrawn.")
    else:
        messages.success(request, f"You are now on {name}. The prorated charge is paid.")
    return _to_subscription(organization)


# --- Cancel, undo, pending changes ------------------------------------------------------------


@org_view(billing=True)
@require_POST
def cancel(request, organization, membership) -> HttpResponse:
    try:
        org = subscription_cancel(organization=organization, actor=request.user)
    except REFUSALS as exc:
        messages.error(request, refusal_text(exc))
    else:
        end = org.current_period_end
        when = f" on {timezone.localtime(end):%-d %b %Y}" if end else ""
        messages.success(request, f"The subscription ends{when}. You can undo this until then.")
    return _to_subscription(organization)


@org_view(billing=True)
@require_POST
def uncancel(request, organization, membership) -> HttpResponse:
    try:
        subscription_uncancel(organization=organization, actor=request.user)
    except REFUSALS as exc:
        messages.error(request, refusal_text(exc))
    else:
        messages.success(request, "The subscription will renew as usual.")
    return _to_subscription(organization)


@org_view(billing=True)
@require_POST
def pending_cancel(request, organization, membership, change_id: int) -> HttpResponse:
    try:
        pending_change_cancel(organization=organization, actor=request.user, change_id=change_id)
    except PendingChange.DoesNotExist:
        raise Http404("No such pending change.") from None
    except REFUSALS as exc:
        messages.error(request, refusal_text(exc))
    else:
        messages.success(request, "The pending change is cancelled; the plan renews unchanged.")
    return _to_subscription(organization)


# --- Checkout ---------------------------------------------------------------------------------


@org_view(billing=True)
@require_POST
def checkout_preview(request, organization, membership) -> HttpResponse:
    form = CheckoutForm(request.POST)
    if not form.is_valid():
        return _subscription_page(
            request, organization, membership, forms={"checkout_form": form}, status=400
        )
    plan = catalog.plan_get(tier=form.cleaned_data["tier"], cycle=form.cleaned_data["cycle"])
    seats = form.cleaned_data["seats"]
    return render(
        request,
        "billing/checkout_confirm.html",
        {
            **org_nav(organization=organization, membership=membership, tab="billing"),
            "plan": plan,
            "seats": seats,
            "amount": plan.amount_for(seats),
        },
    )


@org_view(billing=True)
@require_POST
def checkout(request, organization, membership) -> HttpResponse:
    form = CheckoutForm(request.POST)
    if not form.is_valid():
        return _subscription_page(
            request, organization, membership, forms={"checkout_form": form}, status=400
        )
    done = request.build_absolute_uri(reverse("checkout-done", args=[organization.slug]))
    try:
        url = checkout_start(
            organization=organization,
            actor=request.user,
            tier=form.cleaned_data["tier"],
            cycle=form.cleaned_data["cycle"],
            seats=form.cleaned_data["seats"],
            # Stripe fills in the placeholder; it must stay unescaped.
            success_url=f"{done}?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=request.build_absolute_uri(
                reverse("subscription", args=[organization.slug])
            ),
        )
    except REFUSALS as exc:
        form.add_error(None, refusal_text(exc))
        return _subscription_page(
            request, organization, membership, forms={"checkout_form": form}, status=400
        )
    return redirect(url)


@org_view(billing=True)
@require_GET
def checkout_done(request, organization, membership) -> HttpResponse:
    """Stripe's success URL. Syncing here makes the page right before the webhook lands;
    the webhook then finds nothing left to do."""
    session_id = request.GET.get("session_id", "")
    if not session_id:
        messages.error(request, "The checkout did not say which session it was.")
        return _to_subscription(organization)
    try:
        synced = checkout_session_complete(session_id=session_id)
    except REFUSALS as exc:
        messages.error(request, refusal_text(exc))
        return _to_subscription(organization)
    if synced is None or synced.pk != organization.pk:
        messages.info(request, "Payment is still being confirmed; this page updates shortly.")
    else:
        messages.success(request, "Thank you! The subscription is active.")
    return _to_subscription(organization)
