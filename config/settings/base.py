"""Settings shared by every environment. Values come from the environment through
django-environ; each environment module only changes defaults.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-dev-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "djstripe",
    "organizations",
    "seats",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Pages show dates in the browser's timezone (cookie); UTC otherwise and in the admin.
    "organizations.middleware.TimezoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # The trial banner on org pages (owners and billing managers).
                "billing.views.billing_banner",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

EMAIL_BACKEND = env(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Seatwise <billing@seatwise.example>")

# --- Celery -------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "renewal-run": {
        "task": "billing.tasks.renewal_run",
        "schedule": timedelta(minutes=env.int("SEATWISE_RENEWAL_EVERY_MINUTES", default=10)),
    },
    "reconcile-all": {
        "task": "billing.tasks.reconcile_all",
        "schedule": crontab(hour=3, minute=17),
    },
    "webhook-deliveries-requeue": {
        "task": "billing.tasks.webhook_deliveries_requeue",
        "schedule": timedelta(minutes=5),
    },
    "webhook-deliveries-prune": {
        "task": "billing.tasks.webhook_deliveries_prune",
        "schedule": crontab(hour=3, minute=47),
    },
}

# --- Seats --------------------------------------------------------------------------
# Until an org has a paid subscription, its purchased seats are the trial cap.
SEATWISE_TRIAL_DAYS = env.int("SEATWISE_TRIAL_DAYS", default=14)
SEATWISE_TRIAL_SEATS = env.int("SEATWISE_TRIAL_SEATS", default=5)
SEATWISE_INVITATION_TTL = timedelta(days=env.int("SEATWISE_INVITATION_TTL_DAYS", default=7))
# Processed webhook deliveries are kept this long (Stripe redelivers for 3 days at most).
SEATWISE_WEBHOOK_RETENTION = timedelta(days=env.int("SEATWISE_WEBHOOK_RETENTION_DAYS", default=30))

# --- Stripe and dj-stripe -----------------------------------------------------------
# The API version is pinned: the emulator and the sync code speak exactly this one.
STRIPE_API_VERSION = "2026-08-26.dahlia"
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
# dj-stripe insists on Stripe's key format, so the emulator's keys look like real ones.
STRIPE_TEST_SECRET_KEY = env(
    "STRIPE_TEST_SECRET_KEY", default="sk_test_SeatwiseEmulatorKey000000000"
)
STRIPE_TEST_PUBLIC_KEY = env(
    "STRIPE_TEST_PUBLIC_KEY", default="pk_test_SeatwiseEmulatorKey000000000"
)
STRIPE_LIVE_SECRET_KEY = env("STRIPE_LIVE_SECRET_KEY", default="")
# Empty means real Stripe. The emulator's URL (http://127.0.0.1:12111) points the app
# at the project's emulator instead.
STRIPE_API_HOST = env("STRIPE_API_HOST", default="http://127.0.0.1:12111")
if STRIPE_API_HOST:
    # dj-stripe warns that an API host is unusual; pointing at the emulator is the point.
    SILENCED_SYSTEM_CHECKS = ["djstripe.W002"]
else:
    del STRIPE_API_HOST
# Pace every Stripe request of the fleet (billing/pacing.py, in Redis); 0 = unpaced.
STRIPE_REQUESTS_PER_SECOND = env.float("STRIPE_REQUESTS_PER_SECOND", default=0)
DJSTRIPE_SUBSCRIBER_MODEL = "organizations.Organization"
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
DJSTRIPE_USE_NATIVE_JSONFIELD = True

# --- Plans -------------------------------------------------------------------------
# The catalog (billing.catalog). Amounts are integer cents and must match the Stripe
# prices; price IDs come from the environment, or are looked up once by lookup_key.
# max_seats=None means unlimited.
SEATWISE_PLANS = {
    "teams": {
        "name": "Teams",
        "max_seats": env.int("SEATWISE_TEAMS_MAX_SEATS", default=50),
        "features": ["Seat-based billing", "Usage reports", "Email support"],
        "prices": {
            "monthly": {
                "price_id": env("STRIPE_PRICE_TEAMS_MONTHLY", default=""),
                "lookup_key": "seatwise_teams_monthly",
                "unit_amount": env.int("SEATWISE_TEAMS_MONTHLY_CENTS", default=1800),
            },
            "annual": {
                "price_id": env("STRIPE_PRICE_TEAMS_ANNUAL", default=""),
                "lookup_key": "seatwise_teams_annual",
                "unit_amount": env.int("SEATWISE_TEAMS_ANNUAL_CENTS", default=18000),
            },
        },
    },
    "enterprise": {
        "name": "Enterprise",
        "max_seats": env.int("SEATWISE_ENTERPRISE_MAX_SEATS", default=None),
        "features": [
            "Seat-based billing",
            "Usage reports",
            "SSO",
            "Audit exports",
            "Priority support",
        ],
        "prices": {
            "monthly": {
                "price_id": env("STRIPE_PRICE_ENTERPRISE_MONTHLY", default=""),
                "lookup_key": "seatwise_enterprise_monthly",
                "unit_amount": env.int("SEATWISE_ENTERPRISE_MONTHLY_CENTS", default=7200),
            },
            "annual": {
                "price_id": env("STRIPE_PRICE_ENTERPRISE_ANNUAL", default=""),
                "lookup_key": "seatwise_enterprise_annual",
                "unit_amount": env.int("SEATWISE_ENTERPRISE_ANNUAL_CENTS", default=72000),
            },
        },
    },
}
SEATWISE_CURRENCY = "usd"
# The renewal job writes due changes into a subscription schedule this long before the
# period ends, so Stripe's renewal invoice already bills them.
SEATWISE_RENEWAL_LEAD = timedelta(hours=env.int("SEATWISE_RENEWAL_LEAD_HOURS", default=24))
# Give each new Stripe customer its own test clock (test mode only): the demo's
# "renew now" and the tests advance it through renewals.
SEATWISE_STRIPE_TEST_CLOCKS = env.bool("SEATWISE_STRIPE_TEST_CLOCKS", default=True)

# --- REST framework -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # One error body everywhere: {"error": {"code", "message", "fields"?}}.
    "EXCEPTION_HANDLER": "config.api.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Seatwise API",
    "DESCRIPTION": "Per-seat billing: billing summary, seat usage, members and invitations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Invitations and subscriptions both have a "status"; name their enums apart.
    "ENUM_NAME_OVERRIDES": {
        "InvitationStatusEnum": "organizations.models.InvitationStatus",
        "SubscriptionStatusEnum": "billing.api.STATUS_CHOICES",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"stripe": {"level": "WARNING"}},
}
