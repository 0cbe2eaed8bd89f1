# The two commands of the README are `make demo` and `make test`; everything else is for developers.
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest

.PHONY: setup demo test test-fast lint format bench clean

setup:
	bash scripts/setup.sh

## The main job: build a lab, deploy with the collection, show a failover.
demo: setup
	$(PY) -m tandemlab.demo

## Every test, slow suites included (what CI runs).
test: setup lint
	$(PYTEST) -m "" runtime/tests lab/tests tests

## The quick subset for the edit-test loop: skips suites marked slow.
test-fast: setup lint
	$(PYTEST) -m "not slow" runtime/tests lab/tests tests

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) -m bench

clean:
	$(PY) -m tandemlab.cleanup || true
	rm -rf $(VENV) .pytest_cache .ruff_cache
