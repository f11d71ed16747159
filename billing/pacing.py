"""One pace for every Stripe request the deployment makes, kept in Redis.

Stripe's request budget is per account and per second (100 in live mode, reads and
writes alike), and every web process and Celery worker spends from it. Left alone, the
renewal job's workers ask for more than that; Stripe answers 429, and each retry costs
a second and, for a write, the reads before it. So each request first books a slot on
one clock shared by the whole fleet, then sleeps until its slot comes:

- the clock is a single Redis key holding the next free slot, in microseconds of
  Redis's own time (so hosts' clocks never disagree), booked by a Lua script in one
  atomic step (the generic cell rate algorithm);
- a request below the pace never waits, and a few may run ahead of it (``BURST``), so
  a user's click is not queued behind an idle budget;
- at 90 requests/s slots are ~11 ms apart, and any one second holds at most the pace
  plus the burst, inside Stripe's 100.

Pacing is an optimisation, never a dependency: when Redis cannot be reached a request
goes unpaced (and says so in the log), and a 429 with the tasks' retry stays the
backstop. It is off unless ``STRIPE_REQUESTS_PER_SECOND`` is set (production sets it).
"""

from __future__ import annotations

import logging
import time

import redis
import stripe
from django.conf import settings

logger = logging.getLogger(__name__)

KEY = "seatwise:stripe-pace"
BURST = 4  # requests that may go ahead of the pace after a quiet spell
UNPACED_FOR = 30  # seconds without pacing after Redis failed to answer

# KEYS[1]: the next free slot (µs). ARGV[1]: µs between requests; ARGV[2]: how far
# ahead of its slot a request may go (µs). Returns the µs to wait before sending.
BOOK = """
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local interval = tonumber(ARGV[1])
local ttl_ms = math.ceil((slot + interval - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval), 'PX', ttl_ms)
local wait = slot - now - tonumber(ARGV[2])
if wait < 0 then wait = 0 end
return wait
"""


class StripePacer:
    def __init__(self, *, url: str, per_second: float, burst: int = BURST, key: str = KEY):
        self.key = key
        self.interval_us = round(1_000_000 / per_second)
        self.ahead_us = burst * self.interval_us
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._book = client.register_script(BOOK)
        self._unpaced_until = 0.0

    def book(self) -> float:
        """Book the next slot; the seconds to wait for it (0 when Redis is away).

        After Redis fails to answer, requests go unpaced for ``UNPACED_FOR`` seconds
        without asking it again, so an outage costs one timeout and one warning per
        process and spell, not one of each per Stripe request."""
        if time.monotonic() < self._unpaced_until:
            return 0.0
        try:
            wait_us = self._book(keys=[self.key], args=[self.interval_us, self.ahead_us])
        except redis.RedisError as exc:
            self._unpaced_until = time.monotonic() + UNPACED_FOR
            logger.warning(
                "Stripe requests go unpaced for %d s: Redis did not answer (%s)", UNPACED_FOR, exc
            )
            return 0.0
        return int(wait_us) / 1_000_000

    def wait(self) -> None:
        seconds = self.book()
        if seconds:
            time.sleep(seconds)


class PacedRequestsClient(stripe.RequestsClient):
    """stripe-python's HTTP client, each request (retries included) in its slot. It is
    the client dj-stripe's reads go through too, so they count against the same pace."""

    def __init__(self, *, pacer: StripePacer, **kwargs):
        super().__init__(**kwargs)
        self.pacer = pacer

    def request(self, method, url, headers, post_data=None):
        self.pacer.wait()
        return super().request(method, url, headers, post_data)

    def request_stream(self, method, url, headers, post_data=None):
        self.pacer.wait()
        return super().request_stream(method, url, headers, post_data)


def install() -> None:
    """Pace this process's Stripe requests when the settings ask for it."""
    per_second = settings.STRIPE_REQUESTS_PER_SECOND
    if not per_second:
        return
    if not settings.REDIS_URL:
        logger.warning("STRIPE_REQUESTS_PER_SECOND is set but REDIS_URL is not: unpaced")
        return
    pacer = StripePacer(url=settings.REDIS_URL, per_second=per_second)
    stripe.default_http_client = PacedRequestsClient(pacer=pacer)
