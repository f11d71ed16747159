"""Tenant isolation and roles, swept over every org-scoped URL Django can resolve.

The sweep walks the URL resolver itself, so a URL added tomorrow is swept tomorrow. A
URL is org-scoped when its route takes a ``slug``; API routes are those under /api/.
Each one must appear in ``ACCESS`` (who may use it), and each object id in its route
must have a maker in ``OBJECT_MAKERS``; otherwise the coverage test fails and says
which line to add. Object ids are real rows of the org under attack, so a 404 comes
from tenancy and never from a missing row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from billing.models import PendingChange
from organizations.models import Invitation, Membership, MembershipRemoval, Organization
from organizations.services import invitation_create, membership_add_direct
from seats.models import SeatUsageEvent
from tests.factories import UserFactory
from tests.reliability.conftest import client_for

MEMBERS = "members"  # anyone in the organization
MANAGERS = "managers"  # owners and billing managers manage people; members are refused
BILLING = "billing"  # owners and billing managers only; members get 403

ACCESS = {
    # Pages
    "organization-home": MEMBERS,
    "members": MEMBERS,
    "leave": MEMBERS,
    "invite": MANAGERS,
    "invitation-resend": MANAGERS,
    "invitation-revoke": MANAGERS,
    "member-remove": MANAGERS,
    "member-role": MANAGERS,
    "usage": BILLING,
    "usage-csv": BILLING,
    "usage-json": BILLING,
    "subscription": BILLING,
    "seats-preview": BILLING,
    "seats-preview-live": BILLING,
    "seats-confirm": BILLING,
    "cycle-preview": BILLING,
    "cycle-confirm": BILLING,
    "plan-preview": BILLING,
    "plan-confirm": BILLING,
    "subscription-cancel": BILLING,
    "subscription-uncancel": BILLING,
    "pending-cancel": BILLING,
    "checkout-preview": BILLING,
    "checkout": BILLING,
    "checkout-done": BILLING,
    # JSON API
    "api-billing": BILLING,
    "api-entitlements": MEMBERS,
    "api-usage": BILLING,
    "api-members": MEMBERS,
    "api-invitations": MANAGERS,
}

POST_DATA = {
    "email": "new@acme.test",
    "role": "owner",
    "seats": "9",
    "cycle": "annual",
    "tier": "enterprise",
}


@dataclass(frozen=True)
class OrgUrl:
    name: str
    route: str  # e.g. "o/<slug:slug>/members/<int:membership_id>/remove/"
    kwargs: tuple[str, ...]

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    @property
    def object_kwargs(self) -> tuple[str, ...]:
        return tuple(k for k in self.kwargs if k != "slug")

    def __str__(self) -> str:  # the test ids
        return self.name

    def path(self, **values) -> str:
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), self.route)


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield entry, route


def org_scoped_urls() -> list[OrgUrl]:
    found = []
    for entry, route in _walk(get_resolver().url_patterns):
        kwargs = tuple(re.findall(r"<(?:\w+:)?(\w+)>", route))
        if "slug" in kwargs or "(?P<slug>" in route:
            found.append(OrgUrl(name=entry.name or route, route=route, kwargs=kwargs))
    return found


URLS = org_scoped_urls()
IDS = [u.name for u in URLS]


# --- The organization under attack, with one row of each kind a URL can name -----------


def _invitation(org, actor, email):
    invitation, _token = invitation_create(organization=org, email=email, actor=actor)
    return invitation.pk


def _membership(org, actor, email):
    return Membership.objects.filter(organization=org).exclude(user=actor).first().pk


def _pending_change(org, actor, email):
    # Written directly: these tests are about reaching the row, not about billing.
    now = timezone.now()
    change = PendingChange.objects.create(
        organization=org,
        from_quantity=5,
        from_tier="teams",
        from_cycle="monthly",
        target_quantity=4,
        target_tier="teams",
        target_cycle="monthly",
        stripe_subscription_id="sub_sweep",
        effective_at=now + timedelta(days=20),
        created_at=now,
        updated_at=now,
    )
    return change.pk


OBJECT_MAKERS = {
    "invitation_id": _invitation,
    "membership_id": _membership,
    "change_id": _pending_change,
}


def fill(url: OrgUrl, org: Organization, actor, *, email: str) -> str:
    values = {"slug": org.slug}
    for kwarg in url.object_kwargs:
        values[kwarg] = OBJECT_MAKERS[kwarg](org, actor, email)
    return url.path(**values)


def state() -> tuple:
    """Everything a request could change: row counts, the ledger, and the orgs' fields."""
    return (
        Membership.objects.count(),
        list(Membership.objects.order_by("pk").values_list("pk", "role")),
        list(Invitation.objects.order_by("pk").values_list("pk", "status", "token_hash")),
        list(PendingChange.objects.order_by("pk").values_list("pk", "status")),
        SeatUsageEvent.objects.count(),
        MembershipRemoval.objects.count(),
        list(Organization.objects.order_by("pk").values()),
    )


def methods_of(url: OrgUrl, owner_client, path: str) -> list[str]:
    """GET is safe to probe: a 405 means the URL takes POST only."""
    if url.is_api:
        view = get_resolver().resolve(path).func
        return [m for m in ("get", "post") if hasattr(view.cls, m)]
    response = owner_client.get(path)
    return ["post"] if response.status_code == 405 else ["get"]


def send(client, method: str, path: str, *, api: bool):
    if api:
        return getattr(client, method)(path, POST_DATA if method == "post" else None, format="json")
    return getattr(client, method)(path, POST_DATA if method == "post" else None)


def api_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def client(user, *, api: bool):
    return api_client(user) if api else client_for(user)


@pytest.fixture
def acme(org, owner, billing_manager, member):
    return org


def _covered(url: OrgUrl) -> str:
    kind = ACCESS.get(url.name)
    if kind is None:
        pytest.fail(f"{url.name} ({url.route}) is org-scoped but not in ACCESS: say who may use it")
    missing = [k for k in url.object_kwargs if k not in OBJECT_MAKERS]
    if missing:
        pytest.fail(f"{url.name} names {missing}: add a maker to OBJECT_MAKERS")
    return kind


# --- Coverage -----------------------------------------------------------------------------


def test_every_org_scoped_url_is_covered(tally):
    names = {u.name for u in URLS}
    uncovered = sorted(names - set(ACCESS))
    gone = sorted(set(ACCESS) - names)
    unknown_ids = sorted({k for u in URLS for k in u.object_kwargs} - set(OBJECT_MAKERS))
    assert not uncovered, f"org-scoped URLs missing from ACCESS: {uncovered}"
    assert not unknown_ids, f"object ids without a maker in OBJECT_MAKERS: {unknown_ids}"
    # A stale entry would hide a rename: the sweep must know the real names.
    assert not gone, f"ACCESS names URLs that no longer exist: {gone}"
    assert any(u.is_api for u in URLS) and any(not u.is_api for u in URLS)
    tally.add("URLs swept", len(URLS))


# --- The sweep ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", URLS, ids=IDS)
def test_anonymous_is_sent_to_login_or_gets_401(url, acme, owner, tally):
    _covered(url)
    path = fill(url, acme, owner, email="anon@elsewhere.test")
    before = state()
    for method in ("get", "post"):
        response = send(client(None, api=url.is_api), method, path, api=url.is_api)
        if url.is_api:
            assert response.status_code == 401, (method, response.content)
        else:
            assert response.status_code == 302, (method, response.status_code)
            assert response["Location"].startswith("/accounts/login/")
        tally.add("requests sent by the sweep")
    assert state() == before


@pytest.mark.parametrize("url", URLS, ids=IDS)
def test_outsider_gets_404_on_get_and_post(url, acme, owner, outsider, other_org, tally):
    _covered(url)
    path = fill(url, acme, owner, email="probe@elsewhere.test")
    before = state()
    responses = []
    for method in ("get", "post"):
        response = send(client(outsider, api=url.is_api), method, path, api=url.is_api)
        assert response.status_code == 404, (method, response.status_code)
        responses.append(response)
        tally.add("requests sent by the sweep")
    # The answer is the same as for an organization that does not exist.
    missing = send(
        client(outsider, api=url.is_api),
        "get",
        path.replace(f"/{acme.slug}/", "/no-such-org/", 1),
        api=url.is_api,
    )
    assert missing.status_code == 404
    if url.is_api:
        assert responses[0].json() == missing.json()
    assert state() == before


@pytest.mark.parametrize("url", URLS, ids=IDS)
def test_member_role_is_enforced(url, acme, owner, member, tally):
    kind = _covered(url)
    path = fill(url, acme, owner, email="role@acme.test")
    methods = methods_of(url, client(owner, api=url.is_api), path)
    before = state()
    for method in methods:
        response = send(client(member, api=url.is_api), method, path, api=url.is_api)
        tally.add("requests sent by the sweep")
        if kind == BILLING:
            assert response.status_code == 403, (method, response.status_code)
        elif kind == MANAGERS:
            # Refused outright, refused as bad input (members may not grant "owner"), or
            # sent back with the refusal as a message; never carried out (state below).
            assert response.status_code in (302, 400, 403), (method, response.status_code)
        elif method == "get":
            assert response.status_code in (200, 302), (method, response.status_code)
    if kind != MEMBERS:
        assert state() == before


@pytest.mark.parametrize("url", [u for u in URLS if ACCESS.get(u.name) == BILLING], ids=str)
def test_billing_manager_passes_the_role_check(url, acme, owner, billing_manager, tally):
    path = fill(url, acme, owner, email="bm@acme.test")
    for method in methods_of(url, client(owner, api=url.is_api), path):
        response = send(client(billing_manager, api=url.is_api), method, path, api=url.is_api)
        tally.add("requests sent by the sweep")
        assert response.status_code not in (401, 403, 404), (method, response.status_code)


@pytest.mark.parametrize("url", URLS, ids=IDS)
def test_post_without_csrf_token_is_refused(url, acme, owner, tally):
    _covered(url)
    path = fill(url, acme, owner, email="csrf@acme.test")
    before = state()
    if url.is_api:
        # Session-authenticated API calls need the token too (DRF's SessionAuthentication).
        api = APIClient(enforce_csrf_checks=True)
        api.force_login(owner)
        response = api.post(path, POST_DATA, format="json")
        expected = {403, 405}
    else:
        response = client_for(owner, csrf=True).post(path, POST_DATA)
        expected = {403}
    tally.add("requests sent by the sweep")
    assert response.status_code in expected, response.status_code
    if response.status_code == 403 and not url.is_api:
        assert b"CSRF" in response.content
    assert state() == before


# --- IDOR: another org's row inside your own org's URL ----------------------------------


@pytest.mark.parametrize("url", [u for u in URLS if u.object_kwargs], ids=str)
def test_another_orgs_object_id_in_your_own_url_is_404(
    url, acme, owner, outsider, other_org, tally
):
    _covered(url)
    # A second member for the other org, so its membership id is not its owner's.
    membership_add_direct(
        organization=other_org, user=UserFactory(email="victim@elsewhere.test"), actor=outsider
    )
    values = {"slug": acme.slug}
    for kwarg in url.object_kwargs:
        values[kwarg] = OBJECT_MAKERS[kwarg](other_org, outsider, "victim-inv@elsewhere.test")
    path = url.path(**values)
    before = state()
    for method in methods_of(url, client(owner, api=url.is_api), path):
        response = send(client(owner, api=url.is_api), method, path, api=url.is_api)
        tally.add("IDOR probes")
        assert response.status_code == 404, (method, response.status_code)
    assert state() == before
