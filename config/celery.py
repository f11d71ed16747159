"""The Celery app. Tasks are discovered in each installed app's ``tasks.py``.

The beat schedule lives in settings (``CELERY_BEAT_SCHEDULE``) so each environment can
tune it without touching code.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("seatwise")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
