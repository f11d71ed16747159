#!/usr/bin/env bash
# The demo: migrate, seed, then run the emulator, a Celery worker with beat, and the web
# app until Ctrl-C. Embedded defaults (SQLite, filesystem broker, the emulator) unless
# DATABASE_URL / REDIS_URL / Stripe keys say otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.local}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
EMULATOR_PORT=${EMULATOR_PORT:-12111}
mkdir -p .run

pids=()
cleanup() { trap - EXIT INT TERM; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if [ -z "${STRIPE_LIVE_SECRET_KEY:-}" ] && [ -d stripe_emulator ] && [ -f stripe_emulator/__main__.py ]; then
  export STRIPE_API_HOST=${STRIPE_API_HOST:-http://127.0.0.1:$EMULATOR_PORT}
  $BIN/python -m stripe_emulator --port "$EMULATOR_PORT" >.run/emulator.log 2>&1 &
  pids+=($!)
fi

$BIN/python manage.py migrate --noinput
$BIN/python manage.py seed_demo

$BIN/celery -A config worker --beat --loglevel=INFO --concurrency=2 \
  --schedule=.run/celerybeat-schedule >.run/celery.log 2>&1 &
pids+=($!)

echo
echo "Seatwise demo: http://$HOST:$PORT/   (logs in .run/)"
$BIN/python manage.py demo_logins 2>/dev/null || true
echo
$BIN/python manage.py runserver "$HOST:$PORT" --noreload &
pids+=($!)
wait -n "${pids[@]}"
