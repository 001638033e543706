# The two commands of the README. Each creates .venv itself on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench mutation clean

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

## make mutation: mutmut over the pure layers (about 5 minutes on 2 cores; not part of make test).
## Prints the surviving mutants and the score; fails below 95% (docs/conformance.md, "Mutation testing").
mutation: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -rf mutants
	nice -n 10 $(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results
	$(BIN)/mutmut export-cicd-stats > /dev/null
	$(BIN)/python -c 'import json, sys; s = json.load(open("mutants/mutmut-cicd-stats.json")); \
	caught, total, survived = s["killed"] + s["timeout"], s["total"], s["survived"]; \
	print(f"mutation score: {caught} of {total} mutants killed ({100 * caught / total:.1f}%), {survived} survived"); \
	sys.exit(caught < 0.95 * total)'

clean:
	rm -rf $(VENV) mutants .coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache .hypothesis
