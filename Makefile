# Everything a fresh machine needs comes from the package registries.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV     := $(VENV)/.installed-dev

.PHONY: demo test lint bench fmt clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# `make demo` needs only the runtime; `make test` adds the dev tools (mypy, ruff, pytest).
$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(RUNTIME)

demo: $(RUNTIME)
	$(BIN)/proctor demo

lint: $(DEV)
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(RUNTIME)
	$(BIN)/python benchmarks/step_overhead.py

fmt: $(DEV)
	$(BIN)/ruff format src tests benchmarks docs
	$(BIN)/ruff check --fix src tests benchmarks docs

clean:
	rm -rf $(VENV) .proctor .mypy_cache .pytest_cache .ruff_cache
