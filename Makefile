# Dreamloom — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
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

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	PY=$(PY) scripts/typecheck.sh

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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
