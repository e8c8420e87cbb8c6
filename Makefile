# sitelink — `make demo` runs everything on embedded defaults; `make test` runs every test.
# Each target installs what it needs (a .venv, the dashboard's npm packages) by itself.

PYTHON ?= python3
# `DEMO_PORT=8080 make demo` when 8000 is taken (the quick-start test uses a free port).
DEMO_PORT ?= 8000
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install web web-types demo serve test test-python test-web test-e2e lint bench clean proto

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,demo]'
	touch $(STAMP)

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

web: web/node_modules/.package-lock.json
	cd web && npm run build

# openapi-typescript has a package of its own (web/openapi): it needs TypeScript 5's compiler
# API, the dashboard builds with TypeScript 7.
web/openapi/node_modules/.package-lock.json: web/openapi/package-lock.json
	cd web/openapi && npm ci --no-audit --no-fund --loglevel=error

# The dashboard's API types from the server's OpenAPI document (the app is built, never
# started): web/src/api/schema.d.ts, committed. Run it after changing an answer's struct;
# tests/api/test_dashboard_types.py fails while the committed file is stale.
web-types: install web/openapi/node_modules/.package-lock.json
	$(BIN)/python -m sitelink.api.openapi_dump web/openapi/openapi.json
	cd web/openapi && npx openapi-typescript openapi.json -o ../src/api/schema.d.ts

demo: install web
	$(BIN)/sitelink demo --port $(DEMO_PORT)

serve: install web
	$(BIN)/sitelink serve

test: install web
	$(MAKE) lint test-python test-web test-e2e

# Everything with one site worker, then what runs a live server again with two (issue 15).
# Both run in PYTEST_JOBS processes (pytest-xdist; worksteal evens out the long fault
# tests); 0: in this one. Two on two cores: with three, the shared PostgreSQL stalled for
# seconds under the load and cluster tests failed in CI (bench/PROPOSALS.md, CI time).
PYTEST_JOBS ?= 2
PYTEST := $(BIN)/pytest -n $(PYTEST_JOBS) --dist worksteal
test-python: install web/openapi/node_modules/.package-lock.json
	SITELINK_WORKERS=1 $(PYTEST)
	SITELINK_WORKERS=2 $(PYTEST) tests/integration tests/faults

# Biome's linter (React hooks rules included) first, then vitest.
test-web: web/node_modules/.package-lock.json
	cd web && npm run lint && npm test

tests/e2e/node_modules/.package-lock.json: tests/e2e/package-lock.json
	cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error

# The dashboard in Debian's Chromium (never a browser downloaded by a test tool) against a
# real `sitelink serve` and a real Mosquitto; screenshots land in test-output/e2e/.
test-e2e: install web tests/e2e/node_modules/.package-lock.json
	cd tests/e2e && npx playwright test

# ruff, mypy strict, and vulture for dead code (its allow-list: vulture_allowlist.py).
lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/vulture

bench: install
	$(BIN)/python -m bench

# The Sparkplug B protobuf module, after a change to src/payloads/sparkplug_b.proto. Needs
# grpcio-tools (a developer tool, not a dependency); the output is committed.
proto: install
	$(BIN)/python -m pip install --quiet grpcio-tools
	cd src/payloads && ../../$(BIN)/python -m grpc_tools.protoc -I. --python_out=. \
		--pyi_out=. sparkplug_b.proto

clean:
	rm -rf $(VENV) web/node_modules web/openapi/node_modules web/dist tests/e2e/node_modules \
		test-output .pytest_cache .hypothesis
