# Shortcuts for developers; the README's two commands are scripts/demo.sh and scripts/test.sh.
.PHONY: setup demo test test-fast lint format bench cleanup

setup:
	bash scripts/setup.sh

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

test-fast:
	FAST=1 bash scripts/test.sh

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench: setup
	.venv/bin/python -m bench

cleanup:
	.venv/bin/python -m tandemlab cleanup
