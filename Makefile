# Two commands matter: `make run` (set up everything, then serve on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
FRONTEND_SOURCES := $(shell find frontend/src -type f 2>/dev/null) $(wildcard frontend/index.html frontend/vite.config.js)

.PHONY: run test test-python test-frontend bench bench-profile lint format setup frontend clean cluster

run: setup
	DEBUG=1 $(PY) manage.py migrate --noinput
	@echo "Serving on http://$(HOST):$(PORT)  (Ctrl-C to stop)"
	DEBUG=1 $(VENV)/bin/daphne -b $(HOST) -p $(PORT) collab.asgi:application

setup: $(VENV)/.installed frontend/dist/.vite/manifest.json pandoc

# pandoc (Debian's package) writes the docx and odt exports; without it those two formats answer 501 and all else
# works. Installed here when missing and run as root with apt-get; otherwise a note, never a failure.
.PHONY: pandoc
pandoc:
	@if command -v pandoc >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing pandoc for the docx and odt exports"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pandoc >/dev/null; } \
			|| echo "note: pandoc could not be installed; docx and odt exports answer 501 until it is"; \
	else \
		echo "note: pandoc is not installed, so docx and odt exports answer 501 (as root: apt-get install pandoc)"; \
	fi

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

frontend/dist/.vite/manifest.json: frontend/node_modules/.installed $(FRONTEND_SOURCES)
	cd frontend && npm run build

frontend: frontend/dist/.vite/manifest.json

# The reference Node client (yjs + y-websocket) the compatibility tests drive.
tests/node/node_modules/.package-lock.json: tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund
	touch $@

bench/node_modules/.package-lock.json: bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund
	touch $@

# The whole suite: Python (SQLite; again on PostgreSQL when TEST_POSTGRES_URL is set) and the frontend's unit tests.
# The fault tests, the fuzz slice and the nginx cluster tests run once: they start private databases of their own.
test: setup tests/node/node_modules/.package-lock.json
	$(PY) -m pytest
	@if [ -n "$$TEST_POSTGRES_URL" ]; then \
		echo "== Python suite again on PostgreSQL =="; \
		DATABASE_URL="$$TEST_POSTGRES_URL" $(PY) -m pytest -m "not browser and not faults and not fuzz and not nginx"; \
	fi
	cd frontend && npm test

# N daphne processes (N=3 make cluster; default 2) behind a real nginx running deploy/nginx.conf, sharing the database
# (DATABASE_URL, else the SQLite file of make run) and Redis (REDIS_URL, else a private redis-server); Ctrl-C stops all.
# Needs Debian's nginx (and redis-server without REDIS_URL): apt-get install nginx redis-server.
N ?= 2
CLUSTER_PORT ?=
cluster: setup
	$(PY) deploy/cluster.py --processes $(N) $(if $(CLUSTER_PORT),--port $(CLUSTER_PORT))

test-python: setup tests/node/node_modules/.package-lock.json
	$(PY) -m pytest

test-frontend: frontend/node_modules/.installed
	cd frontend && npm test

bench: setup bench/node_modules/.package-lock.json
	$(PY) bench/run.py

bench-profile: setup bench/node_modules/.package-lock.json
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) bench/run.py --profile

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy documents collab
	$(VENV)/bin/lint-imports

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist tests/node/node_modules bench/node_modules staticfiles .test-db*

# Long fuzzing of the receive path (tests/fuzz): the in-room driver for FUZZ_SECONDS with a fresh seed, then
# FUZZ_SOCKET_CASES cases against a real daphne server; prints cases per second and findings, saves each new finding
# (shrunk) to tests/fuzz/corpus/, and fails when anything was found. FUZZ_SEED=N repeats a run.
FUZZ_SECONDS ?= 600
FUZZ_SOCKET_CASES ?= 10000
.PHONY: fuzz
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_SOCKET_CASES=$(FUZZ_SOCKET_CASES) $(PY) -m tests.fuzz
