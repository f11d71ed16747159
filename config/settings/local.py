"""The demo and local development: SQLite, a broker that needs no server, the emulator.

``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from .base import *  # noqa: F403
from .base import BASE_DIR, REDIS_URL, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)

if not REDIS_URL:
    # kombu's filesystem transport: the worker and the web process share a folder.
    _broker_dir = BASE_DIR / ".run" / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # Webhooks, the worker and the web app write at once: wait for SQLite's lock, and
    # take it at the start of each transaction so two writers never deadlock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(  # noqa: F405
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
