from django.core.management import call_command
from django.db import connection


def test_suite_runs_on_postgresql(db):
    assert connection.vendor == "postgresql"


def test_every_model_change_has_a_migration(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
