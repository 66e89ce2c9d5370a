# Dreamloom — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
TSC := node_modules/.bin/tsc
HOST ?= 127.0.0.1
PORT ?= 8765

.PHONY: run test lint fmt bench soak browser-deps js-test py-test clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

run: $(INSTALLED)
	$(PY) -m dreamloom serve --host $(HOST) --port $(PORT)

browser-deps:
	@scripts/ensure-chromium.sh

# TypeScript checks the browser app's JSDoc types (no build step: nothing it writes is shipped).
$(TSC): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(INSTALLED) $(TSC)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	PY=$(PY) scripts/typecheck.sh
	$(TSC) -p tsconfig.json
	$(TSC) -p tsconfig.sw.json

fmt: $(INSTALLED)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

js-test:
	node --test client/web/tests/

py-test: $(INSTALLED) browser-deps
	$(PY) -m pytest

test: lint js-test py-test

bench: $(INSTALLED) browser-deps
	$(PY) bench/run_all.py

soak: $(INSTALLED)
	$(PY) bench/soak.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis .typecheck
