#!/usr/bin/env bash
# The demo: the Stripe emulator, a fresh database with the seeded demo, a Celery worker
# with beat, and the web app, until Ctrl-C.
#
# Embedded defaults: SQLite (emptied and re-seeded at each start, because the emulator
# keeps its state in memory), kombu's filesystem broker, and the emulator. DATABASE_URL, REDIS_URL and
# STRIPE_LIVE_SECRET_KEY / STRIPE_API_HOST switch to real services.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.local}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
EMULATOR_PORT=${EMULATOR_PORT:-12111}
SITE_URL=${SITE_URL:-http://$HOST:$PORT}
mkdir -p .run

pids=()
cleanup() { trap - EXIT INT TERM; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

fresh_demo=""
if [ -z "${DATABASE_URL:-}" ]; then
  export DATABASE_URL="sqlite:///$PWD/.run/demo.sqlite3"
  fresh_demo=1
fi

if [ -z "${STRIPE_LIVE_SECRET_KEY:-}" ] && [ -z "${STRIPE_API_HOST:-}" ]; then
  export STRIPE_API_HOST="http://127.0.0.1:$EMULATOR_PORT"
  echo "Starting the Stripe emulator on $STRIPE_API_HOST (log: .run/emulator.log)"
  $BIN/python -m stripe_emulator --port "$EMULATOR_PORT" >.run/emulator.log 2>&1 &
  pids+=($!)
  $BIN/python - "$STRIPE_API_HOST" <<'PY'
import sys, time
from stripe_emulator.control import EmulatorControl
control = EmulatorControl(sys.argv[1])
for _ in range(100):
    try:
        control.health()
        break
    except OSError:
        time.sleep(0.1)
# Deliver webhooks in the background with retries, as Stripe does.
control.set_webhook_mode("async")
PY
fi

echo "Preparing the database and the demo data (the first run migrates: about a minute)"
$BIN/python manage.py migrate --noinput -v0
[ -n "$fresh_demo" ] && $BIN/python manage.py flush --noinput
$BIN/python manage.py seed_demo
$BIN/python manage.py billing_demo_setup --site-url "$SITE_URL"

$BIN/celery -A config worker --beat --loglevel=INFO --concurrency=2 \
  --schedule=.run/celerybeat-schedule >.run/celery.log 2>&1 &
pids+=($!)

echo
echo "Seatwise demo: $SITE_URL/   (admin: $SITE_URL/admin/, logs in .run/)"
$BIN/python manage.py demo_logins
echo
$BIN/python manage.py runserver "$HOST:$PORT" --noreload &
pids+=($!)
wait -n "${pids[@]}"
