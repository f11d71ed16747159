"""A small rate limit for the pages where someone could guess a secret: sign-in
(passwords) and invitation links (tokens), plus sending invitations (email floods).

Fixed windows counted in Django's cache, which is Redis in production, so every web
worker shares the counts. Only failures count where success is harmless (a person who
signs in correctly is never slowed down); once a key is over its limit, the page
answers 429 with ``Retry-After`` until the window ends, without running the view.

Behind a proxy, ``REMOTE_ADDR`` must be the client's address (gunicorn's
``--forwarded-allow-ips`` with the proxy's address does that).
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

KeyFunc = Callable[[HttpRequest], str | None]
Counts = Callable[[HttpRequest, HttpResponse], bool]


@dataclass(frozen=True)
class Limit:
    scope: str
    limit: int
    window: int  # seconds
    key: KeyFunc

    def _cache_key(self, request: HttpRequest, *, now: float) -> str | None:
        raw = self.key(request)
        if not raw:
            return None
        digest = hashlib.sha256(raw.encode()).hexdigest()[:32]
        return f"ratelimit:{self.scope}:{digest}:{int(now // self.window)}"

    def retry_after(self, *, now: float) -> int:
        return self.window - int(now % self.window)


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


def posted_username(request: HttpRequest) -> str | None:
    username = request.POST.get("username", "")
    return username.strip().lower()[:254] or None


def signed_in_user(request: HttpRequest) -> str | None:
    user = getattr(request, "user", None)
    return str(user.pk) if user is not None and user.is_authenticated else None


def always(request: HttpRequest, response: HttpResponse) -> bool:
    return True


def rate_limited(*limits: Limit, methods: tuple[str, ...] = ("POST",), counts: Counts = always):
    """Refuse with 429 once any of ``limits`` is used up; ``counts`` says whether a
    finished request uses up one attempt (e.g. only a failed sign-in)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if request.method not in methods:
                return view(request, *args, **kwargs)
            now = time.time()
            keys = [(lim, lim._cache_key(request, now=now)) for lim in limits]
            keys = [(lim, key) for lim, key in keys if key]
            for lim, key in keys:
                if (cache.get(key) or 0) >= lim.limit:
                    return too_many(retry_after=lim.retry_after(now=now))
            response = view(request, *args, **kwargs)
            if counts(request, response):
                for lim, key in keys:
                    # add() then incr(): atomic on Redis, so workers cannot lose counts.
                    cache.add(key, 0, timeout=lim.window + 1)
                    try:
                        cache.incr(key)
                    except ValueError:  # expired between add() and incr()
                        cache.add(key, 1, timeout=lim.window + 1)
            return response

        return wrapper

    return decorate


def too_many(*, retry_after: int) -> HttpResponse:
    response = HttpResponse(
        "Too many attempts. Wait a few minutes and try again.",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(retry_after)
    return response
