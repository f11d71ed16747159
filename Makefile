# Seatwise. `make run` starts the demo; `make test` runs the suite. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-all lint format check bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: install
	bash scripts/run.sh

test: install
	bash scripts/services.sh
	bash scripts/browser.sh
	$(BIN)/ruff check .
	$(BIN)/pytest -m "not slow"

test-all: install
	bash scripts/services.sh
	bash scripts/browser.sh
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: install
	DJANGO_SETTINGS_MODULE=config.settings.production DJANGO_SECRET_KEY=$$(head -c 48 /dev/urandom | base64) \
	  DATABASE_URL=sqlite:///tmp/check.sqlite3 REDIS_URL=redis://127.0.0.1:6379/0 \
	  $(BIN)/python manage.py check --deploy

bench: install
	bash scripts/services.sh
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .run db.sqlite3
