"""Make the seat ledger append-only in PostgreSQL itself.

The trigger refuses DELETE and every UPDATE except the GDPR erasure that nulls
``actor_id`` and changes nothing else. SQLite (the local demo) relies on the ORM guard
alone. TRUNCATE is not blocked: the test runner flushes tables with it; in production
the application role should not own the table (see seats/README.md).
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION seats_seatusageevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'seats_seatusageevent is append-only: DELETE is not allowed'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.actor_id IS NULL
       AND NEW.id = OLD.id
       AND NEW.organization_id = OLD.organization_id
       AND NEW.count = OLD.count
       AND NEW.delta = OLD.delta
       AND NEW.cause = OLD.cause
       AND NEW.membership_id IS NOT DISTINCT FROM OLD.membership_id
       AND NEW.created_at = OLD.created_at THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'seats_seatusageevent is append-only: only erasing actor_id is allowed'
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER seats_seatusageevent_append_only
    BEFORE UPDATE OR DELETE ON seats_seatusageevent
    FOR EACH ROW EXECUTE FUNCTION seats_seatusageevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS seats_seatusageevent_append_only ON seats_seatusageevent;
DROP FUNCTION IF EXISTS seats_seatusageevent_append_only();
"""


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("seats", "0001_initial")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP), elidable=False)]
