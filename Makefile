# A new user's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench check install clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check jaxnn tests benchmarks examples
	$(VENV)/bin/ruff format --check jaxnn tests benchmarks examples

test: $(STAMP) lint
	$(PY) -m pytest --cov=jaxnn --cov-report=term --cov-fail-under=90 --durations=15

demo: $(STAMP)
	$(VENV)/bin/jaxnn check --dtype both

check: $(STAMP)
	$(VENV)/bin/jaxnn check --dtype both

bench: $(STAMP)
	$(PY) -m benchmarks.backprop --out benchmarks/results/latest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .coverage
