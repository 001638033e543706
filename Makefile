# The two commands of the README. Each creates .venv itself on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench example screenshots clean

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

## make example: serve the reference EMR login (examples/emr) at http://127.0.0.1:8000 (PORT overrides).
example: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[example,postgres]'
	PYTHONPATH=examples $(BIN)/python -m emr

## make screenshots: run the browser tests of examples/emr, saving a PNG of each screen in docs/images/.
screenshots: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	EMR_SCREENSHOTS=docs/images $(BIN)/python -m pytest -q tests/test_emr_example.py

## make bench: time totpcore against pyotp and cryptography in one run.
bench: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache .hypothesis
