# Kizuna: `make run` sets everything up and starts the demo; `make test` sets up and runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .cache/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app server
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgresql://postgres@127.0.0.1:5432/kizuna_test
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15
export UV_PYTHON_DOWNLOADS := never

.PHONY: help setup run test lint pytest pytest-services chromium clean liff theme-check

help:
	@echo "make run    set up (virtualenv, locked dependencies, migrations, demo shop) and start"
	@echo "            the web server and a worker on http://$(HOST):$(PORT)/"
	@echo "make test   set up and run every check: lint, types, import contracts, pytest on SQLite,"
	@echo "            then pytest on PostgreSQL + Redis"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The virtualenv follows uv.lock exactly (--frozen: the lock file is never rewritten here).
$(BIN)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

setup: $(BIN)/.synced

instance/dev.env:
	@mkdir -p instance
	@{ echo "# Local development settings, made once by 'make run'. Never commit this file."; \
	   echo "SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(32))')"; \
	   echo "ENCRYPTION_KEY=$$($(BIN)/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"; \
	   echo "SHOPIFY_API_KEY=demo-api-key"; \
	   echo "SHOPIFY_API_SECRET=$$($(BIN)/python -c 'import secrets; print(secrets.token_hex(32))')"; \
	   echo "APP_URL=http://$(HOST):$(PORT)"; \
	   echo "KIZUNA_DEMO=1"; } > $@
	@echo "Wrote $@ (local secrets for the demo)."

run: setup instance/dev.env liff
	@set -a; . instance/dev.env; set +a; \
	  $(FLASK) db upgrade && $(FLASK) demo && \
	  HOST=$(HOST) PORT=$(PORT) FLASK="$(FLASK)" ./scripts/run-dev

# The LIFF mini-app (liff/): packages exactly as locked, then Vite builds it into
# server/static/liff/, which Flask serves at /liff/<liff id>/. Rebuilt when a source changes.
LIFF_BUILD := server/static/liff/index.html
LIFF_SOURCES := $(shell find liff/src -type f) liff/index.html liff/vite.config.js

liff/node_modules/.package-lock.json: liff/package.json liff/package-lock.json
	cd liff && npm ci --no-audit --no-fund

$(LIFF_BUILD): liff/node_modules/.package-lock.json $(LIFF_SOURCES)
	cd liff && npm run build

liff: $(LIFF_BUILD)

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser),
# and Japanese fonts so that screenshots show Japanese text rather than empty boxes.
chromium:
	@if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/opentype/noto ]; then \
	  echo "Installing Debian's chromium and fonts-noto-cjk for the browser tests…"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    chromium fonts-noto-cjk >/dev/null; \
	fi

lint: setup
	$(BIN)/ruff check server tests benchmarks migrations
	$(BIN)/ruff format --check server tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

pytest: setup chromium liff
	@echo "== pytest on SQLite"
	env -u DATABASE_URL -u REDIS_URL $(BIN)/pytest -n 2 -q

pytest-services: setup chromium liff
	@if $(BIN)/python scripts/services-up "$(PG_URL)" "$(REDIS_TEST_URL)"; then \
	  echo "== pytest on PostgreSQL ($(PG_URL)) with Redis ($(REDIS_TEST_URL))"; \
	  DATABASE_URL="$(PG_URL)" REDIS_URL="$(REDIS_TEST_URL)" $(BIN)/pytest -n 2 -q; \
	elif [ "$$CI" = "true" ]; then \
	  echo "PostgreSQL or Redis is unreachable, and CI requires both: failing." >&2; exit 1; \
	else \
	  echo "== SKIPPED the PostgreSQL + Redis pass: not reachable here (CI requires it)."; \
	fi

# The theme app extension (shopify_extension/) passes Shopify's Theme Check, pinned in
# tools/theme-check (package-lock.json); any error fails the build.
tools/theme-check/node_modules/.package-lock.json: tools/theme-check/package.json tools/theme-check/package-lock.json
	cd tools/theme-check && npm ci --no-audit --no-fund

theme-check: tools/theme-check/node_modules/.package-lock.json
	cd tools/theme-check && node check.mjs ../../shopify_extension

test: lint theme-check pytest pytest-services

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
