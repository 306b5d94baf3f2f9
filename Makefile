# Everything a fresh machine needs comes from the package registries.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
ALL     := $(VENV)/.installed-all
DEV     := $(VENV)/.installed-dev
PHOENIX := .tools/phoenix/.installed
CHROMIUM := /usr/bin/chromium
NODE_CLIENT := tests/endpoint/node/node_modules/.installed
OIDC_PROVIDER := tests/server/oidc_provider/node_modules/.installed
PORTKEY_VERSION := 1.15.2
PORTKEY := .tools/portkey/.installed-$(PORTKEY_VERSION)
BENCH_VENV := .bench-venv
BENCH := $(BENCH_VENV)/.installed
SUDO    := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: demo test lint docs bench bench-more soak fmt clean

# uv (from PyPI) builds the environment: about 15 s on a fresh machine where
# `python -m venv` plus pip take 40 s, which matters for `make demo`'s one-minute promise.
UV := .tools/uv/bin/uv

$(UV):
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target .tools/uv uv

$(BIN)/python: | $(UV)
	$(UV) venv --quiet --python $(PYTHON) $(VENV)

# `make demo` needs only the core (no server, PostgreSQL, OpenTelemetry or Redis); `make bench`
# adds those extras (`all`), and `make test` the dev tools too (mypy, ruff, pytest).
$(RUNTIME): pyproject.toml | $(BIN)/python
	$(UV) pip install --quiet --python $(BIN)/python -e .
	touch $@

$(ALL): pyproject.toml | $(BIN)/python
	$(UV) pip install --quiet --python $(BIN)/python -e '.[all]'
	touch $@ $(RUNTIME)

$(DEV): pyproject.toml | $(BIN)/python
	$(UV) pip install --quiet --python $(BIN)/python -e '.[dev,all]'
	touch $@ $(ALL) $(RUNTIME)

# Arize Phoenix, the real OTLP/HTTP receiver tests/telemetry/test_phoenix_e2e.py exports runs
# to and reads them back from. It is a server the tests start, not a library they import, so
# it gets an environment of its own: its ~110 packages (about 620 MB, 5-10 s with uv) never
# constrain the project's, and its pytest plugin stays out of our test runs.
$(PHOENIX): | $(UV)
	$(UV) venv --quiet --clear --python $(PYTHON) .tools/phoenix
	$(UV) pip install --quiet --python .tools/phoenix/bin/python 'arize-phoenix>=20,<21'
	touch $@

# Debian's Chromium, the browser tests/server/test_browser.py drives through Playwright
# (which never downloads a browser of its own). The package index is refreshed only when
# the install fails without it.
$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
		{ $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# The official `openai` Node client that tests/endpoint/test_node_client.py drives, as locked
# in tests/endpoint/node/package-lock.json. Without npm the test skips (and fails on CI).
$(NODE_CLIENT): tests/endpoint/node/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/endpoint/node --no-audit --no-fund --ignore-scripts --silent && touch $@; \
	else echo "npm not found: tests/endpoint/test_node_client.py will be skipped"; fi

# A real OpenID provider (the npm package oidc-provider, as locked in its package-lock.json)
# that tests/server/test_ui_sso.py signs in with. Without npm the test skips (fails on CI).
$(OIDC_PROVIDER): tests/server/oidc_provider/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/server/oidc_provider --no-audit --no-fund --ignore-scripts --silent && touch $@; \
	else echo "npm not found: tests/server/test_ui_sso.py will be skipped"; fi

# The Portkey gateway, which benchmarks/gateway_vs_portkey.py measures beside the endpoint
# (its postinstall only runs patch-package on patches the package does not ship).
$(PORTKEY):
	rm -rf .tools/portkey
	npm install --prefix .tools/portkey --no-audit --no-fund --ignore-scripts --silent \
		@portkey-ai/gateway@$(PORTKEY_VERSION)
	touch $@

demo: $(RUNTIME)
	$(BIN)/proctor demo

lint: $(DEV)
	$(BIN)/ruff check src tests benchmarks docs examples
	$(BIN)/ruff format --check src tests benchmarks docs examples
	$(BIN)/mypy

# The API reference from the docstrings (tests/docs/test_api_reference.py builds it too).
docs: $(DEV)
	$(BIN)/python docs/build_api.py build/api

# Two workers, a test file at a time each: module fixtures (the Phoenix server, the browser)
# start once, and the suite takes about 60 % of its one-process time on two cores.
test: lint $(PHOENIX) $(CHROMIUM) $(NODE_CLIENT) $(OIDC_PROVIDER)
	$(BIN)/pytest -n 2 --dist loadfile --durations=15

# `make bench`'s own environment: Proctor with every extra plus the peers it is measured
# beside (benchmarks/requirements.txt, pinned). The peers never enter .venv, so `make test`
# never sees them, and no benchmark runs in `make test`.
$(BENCH): pyproject.toml benchmarks/requirements.txt | $(UV)
	$(UV) venv --quiet --clear --python $(PYTHON) $(BENCH_VENV)
	$(UV) pip install --quiet --python $(BENCH_VENV)/bin/python -e '.[all]' \
		-r benchmarks/requirements.txt
	touch $@

# Every comparison with the peers in one run: benchmarks/results/latest.json and the table
# in docs/benchmarks.md. `make bench BENCH_ARGS=--quick` is a smoke run (about a minute).
bench: $(BENCH) $(PORTKEY)
	$(BENCH_VENV)/bin/python benchmarks/run_all.py $(BENCH_ARGS)

# Proctor's own benchmarks, beyond the comparisons (each prints its figures).
bench-more: $(ALL)
	$(BIN)/python benchmarks/step_overhead.py
	$(BIN)/python benchmarks/agent_session.py
	$(BIN)/python benchmarks/gateway_overhead.py
	$(BIN)/python benchmarks/audit_export.py
	$(BIN)/python benchmarks/eval_replay.py
	$(BIN)/python benchmarks/eval_load.py
	$(BIN)/python benchmarks/queue_throughput.py
	$(BIN)/python benchmarks/server_pages.py
	$(BIN)/python benchmarks/store_appends.py
	$(BIN)/python benchmarks/append_path.py
	$(BIN)/python benchmarks/report_scale.py
	$(BIN)/python benchmarks/runs_find.py
	$(BIN)/python benchmarks/run_memory.py
	$(BIN)/python benchmarks/policy_decision.py
	$(BIN)/python benchmarks/injection/run.py

# Workers SIGKILLed at random under 200 queued runs, on PostgreSQL and on SQLite: prints
# runs, kills, duration, reclaimed leases and duplicates (0), and fails if any guarantee broke.
soak: $(DEV)
	$(BIN)/python benchmarks/crash_soak.py --runs 200

fmt: $(DEV)
	$(BIN)/ruff format src tests benchmarks docs examples
	$(BIN)/ruff check --fix src tests benchmarks docs examples

clean:
	rm -rf $(VENV) $(BENCH_VENV) .tools .proctor .mypy_cache .pytest_cache .ruff_cache test-output \
		tests/endpoint/node/node_modules tests/server/oidc_provider/node_modules
