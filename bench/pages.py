"""Measure 5: page render times and query counts.

Each page is requested through Django's test client (no server), twice over: in a small
state and in a big one (the members page at 2,000 members, 36 months of usage, more
rows in every admin changelist), and its query count must be the same in both. Its
median time is set against the same template rendered from the same context with every
queryset already evaluated: what the view adds on top of the template itself. A second,
reported row serves that template and context through a view of the bench's own
(``bench.urls.page_baseline``), behind the same middleware, session and signed-in user:
it splits the page's gap into Django's request cycle and the page view's own work.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.paginator import Page
from django.db import connection
from django.db.models.query import QuerySet
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import (
    CaptureQueriesContext,
    setup_test_environment,
    teardown_test_environment,
)
from django.utils import timezone
from django.utils.text import slugify

from bench import core, urls
from billing import services as billing_services
from billing.models import PendingChange
from organizations.models import JoinedVia, Membership, Organization, Role
from seats.models import Cause, SeatUsageEvent

ADMIN_LISTS = {
    "admin: organizations": "/admin/organizations/organization/?q=pages",
    "admin: memberships": "/admin/organizations/membership/?q=pages",
    "admin: seat ledger": "/admin/seats/seatusageevent/?q=pages",
    "admin: pending changes": "/admin/billing/pendingchange/?q=pages",
}


NOTES = {
    "members page": "; the members table is not paginated",
    "subscription page": "; the org is on trial (no Stripe subscription), so no invoices",
}


def run(*, scale: core.Scale, results: core.Results, emulator_url: str) -> None:
    billing_services.billing_catalog_ensure()  # the subscription page reads the catalog
    User = get_user_model()
    owner = User.objects.create(username="pages-owner", email="pages-owner@bench.test")
    staff = User.objects.create(
        username="pages-staff", email="pages-staff@bench.test", is_staff=True, is_superuser=True
    )
    org = _org(name="pages", owner=owner, months_ago=36)
    owner_client, staff_client = Client(), Client()
    owner_client.force_login(owner)
    staff_client.force_login(staff)
    pages = {
        "members page": (owner_client, f"/o/{org.slug}/members/"),
        "subscription page": (owner_client, f"/o/{org.slug}/billing/"),
        "usage page": (owner_client, f"/o/{org.slug}/usage/"),
        **{name: (staff_client, url) for name, url in ADMIN_LISTS.items()},
    }

    _grow(org=org, members=scale.members_small, extra_orgs=3, ledger_months=2)
    small = {name: _queries(client, url) for name, (client, url) in pages.items()}
    _grow(org=org, members=scale.members_big, extra_orgs=150, ledger_months=36)
    for name, (client, url) in pages.items():
        ours, baseline, cycle, queries = _measure(
            client, url, key=slugify(name), repeats=scale.page_repeats
        )
        results.row(
            f"pages: {name}, median render",
            ours,
            "ms",
            baseline=baseline,
            target="ratio <= 2",
            passed=ours <= 2 * baseline,
            note=f"{queries} queries" + NOTES.get(name, ""),
        )
        results.row(
            f"pages: {name}, template alone behind the request cycle",
            cycle,
            "ms",
            baseline=baseline,
            target="reported",
            note=f"of the page's {ours - baseline:.1f} ms over the template: "
            f"{cycle - baseline:.1f} ms request cycle, {ours - cycle:.1f} ms the view",
        )
        results.check(
            f"pages: {name} makes as many queries with more rows",
            queries == small[name],
            f"({small[name]} small, {queries} big)",
        )
    members = Membership.objects.filter(organization=org).count()
    results.check(
        "pages: the members page was measured at the big size",
        members >= scale.members_big,
        f"({members} members)",
    )


def _org(*, name: str, owner, months_ago: int) -> Organization:
    now = timezone.now()
    org = Organization.objects.create(
        name=name,
        slug=name,
        email=owner.email,
        created_at=now - timedelta(days=31 * months_ago),
        trial_ends_at=now + timedelta(days=14),
        seats_purchased=100_000,
    )
    Membership.objects.create(
        organization=org,
        user=owner,
        role=Role.OWNER,
        joined_via=JoinedVia.CREATOR,
        created_at=org.created_at,
    )
    return org


def _grow(*, org: Organization, members: int, extra_orgs: int, ledger_months: int) -> None:
    """Bulk rows (the services' one-at-a-time path is measured by churn): members up to
    ``members`` with their ledger rows spread over the last ``ledger_months`` months,
    extra orgs with a pending change each, so every changelist has more to show."""
    User = get_user_model()
    now = timezone.now()
    have = Membership.objects.filter(organization=org).count()
    users = User.objects.bulk_create(
        User(username=f"pages-{i}", email=f"pages-{i}@bench.test", password="!")
        for i in range(have, members)
    )
    step = timedelta(days=30 * ledger_months) / max(1, len(users))
    start = now - timedelta(days=30 * ledger_months)
    created = Membership.objects.bulk_create(
        Membership(
            organization=org,
            user=u,
            role=Role.MEMBER,
            joined_via=JoinedVia.API,
            created_at=start + i * step,
        )
        for i, u in enumerate(users)
    )
    SeatUsageEvent.objects.bulk_create(
        SeatUsageEvent(
            organization=org,
            count=have + i + 1,
            delta=1,
            cause=Cause.JOINED,
            membership_id=m.pk,
            created_at=m.created_at,
        )
        for i, m in enumerate(created)
    )
    first = Organization.objects.filter(name__startswith="pages-extra").count()
    extras = Organization.objects.bulk_create(
        Organization(
            name=f"pages-extra-{i}",
            slug=f"pages-extra-{i}",
            email=f"x{i}@bench.test",
            created_at=now,
        )
        for i in range(first, first + extra_orgs)
    )
    PendingChange.objects.bulk_create(
        PendingChange(
            organization=o,
            from_quantity=5,
            from_tier="teams",
            from_cycle="monthly",
            target_quantity=3,
            target_tier="teams",
            target_cycle="monthly",
            stripe_subscription_id=f"sub_pages_{o.pk}",
            # Far off, so the renewal job (measure 3) never takes these as due.
            effective_at=now + timedelta(days=365),
            created_at=now,
            updated_at=now,
        )
        for o in extras
    )
    # Plans from row estimates of the bulk-loaded tables, as autovacuum would give them
    # in production (without this, one run planned a loop over every organization).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    return len(captured)


def _measure(
    client: Client, url: str, *, key: str, repeats: int
) -> tuple[float, float, float, int]:
    """Median ms of the page, of its template alone, and of that template behind the
    request cycle; and the page's query count. The three are timed in turn in each
    round, so a neighbour's load on the shared cores falls on all of them alike."""
    queries = _queries(client, url)  # also warms template caches

    # Capture the view's template and context once, with Django's test instrumentation.
    setup_test_environment()
    try:
        response = client.get(url)
    finally:
        teardown_test_environment()
    template = response.templates[0].name
    context = _precomputed(response.context[0].flatten())
    request = response.wsgi_request
    urls.page_contexts[key] = (template, context)
    cycle_url = f"/bench/page-baseline/{key}/"
    _queries(client, cycle_url)  # warms it as the page was, and checks it answers 200

    page, alone, cycle = [], [], []
    for _ in range(repeats):
        page.append(_ms(client.get, url))
        alone.append(_ms(render_to_string, template, context, request=request))
        cycle.append(_ms(client.get, cycle_url))
    return core.median(page), core.median(alone), core.median(cycle), queries


def _ms(call, *args, **kwargs) -> float:
    started = time.perf_counter()
    call(*args, **kwargs)
    return (time.perf_counter() - started) * 1000


def _precomputed(context: dict) -> dict:
    """Evaluate every queryset now, so the baseline renders without the view's queries."""
    done = {}
    for key, value in context.items():
        if isinstance(value, QuerySet):
            value = list(value)
        elif isinstance(value, Page):
            value.object_list = list(value.object_list)
        elif isinstance(value, dict):
            value = {k: list(v) if isinstance(v, QuerySet) else v for k, v in value.items()}
        done[key] = value
    return done
