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
	$(PY) -m pytest -n 2 --cov=jaxnn --cov-report=term --cov-fail-under=90 --durations=15

# The main job: train an MLP on the bundled digits with the hand-written backward
# pass and Adam, then the differential self-test.
demo: $(STAMP)
	$(VENV)/bin/jaxnn train --data digits --hidden 128,64 --optimizer adam --lr 1e-3 \
		--epochs 15 --batch-size 64 --backward manual --out runs/demo
	$(VENV)/bin/jaxnn check --dtype float64

check: $(STAMP)
	$(VENV)/bin/jaxnn check --dtype both

bench: $(STAMP)
	$(PY) -m benchmarks.backprop --out benchmarks/results/latest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .coverage
