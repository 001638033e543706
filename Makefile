# The two commands of the README. Each creates .venv itself on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "totpcore needs Python 3.10 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

## make demo: install totpcore with the QR extra and run the narrated walkthrough.
demo: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[qr]'
	$(BIN)/totpcore demo

## make test: lint, type-check and run the whole suite with branch coverage.
test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report

## make bench: time totpcore against pyotp and cryptography in one run.
bench: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache .hypothesis
