"""Settings for the benchmarks: the test settings on a database of the bench's own.

Celery tasks go to Redis on a queue of the bench's own (real workers consume it), and
the Stripe host is the emulator the harness started (``STRIPE_API_HOST``).
"""

from config.settings.test import *  # noqa: F403
from config.settings.test import env

DATABASES = {
    "default": env.db(
        "BENCH_DATABASE_URL",
        default="postgres://postgres@127.0.0.1:5432/"
        + env("BENCH_DATABASE_NAME", default="seatwise_bench"),
    )
}
# A connection per worker process and request, as production without pooling; a
# measure may ask for persistent connections (``BENCH_CONN_MAX_AGE``, seconds).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("BENCH_CONN_MAX_AGE", default=0)

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="seatwise-bench")

DEBUG = False
ALLOWED_HOSTS = ["*"]
# The webhook baseline view lives beside the real URLs.
ROOT_URLCONF = "bench.urls"
LOGGING["root"]["level"] = "ERROR"  # noqa: F405
