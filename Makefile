# The two commands of the README. Each creates .venv itself on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo system-deps test soak bench mutation example screenshots clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "totpcore needs Python 3.10 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

## make demo: install totpcore with the QR extra and run the narrated walkthrough.
demo: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[qr]'
	$(BIN)/totpcore demo

## make system-deps: install the Debian packages the tests run for real (PgBouncer, Chromium and
## its WebDriver) when they are missing. apt-get runs only then: as root, else through sudo; without
## either it says what to install and goes on (the tests skip), except under CI (they must not skip).
## A pgbouncer service that the package starts is stopped and disabled: the tests run their own.
system-deps:
	@missing=; \
	{ command -v pgbouncer || test -x /usr/sbin/pgbouncer; } >/dev/null || missing="$$missing pgbouncer"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	[ -n "$$missing" ] || exit 0; \
	if [ "$$(id -u)" = 0 ]; then sudo=; \
	elif command -v sudo >/dev/null; then sudo=sudo; \
	else sudo=none; fi; \
	if [ "$$sudo" = none ] || ! command -v apt-get >/dev/null; then \
		echo "system-deps: missing Debian packages:$$missing (install them as root: apt-get install$$missing)"; \
		if [ -n "$$CI" ]; then echo "system-deps: CI needs them, failing"; exit 1; fi; \
		echo "system-deps: the tests that need them will be skipped"; exit 0; \
	fi; \
	echo "system-deps: installing$$missing"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing && \
	case "$$missing" in *pgbouncer*) \
		if [ -d /run/systemd/system ]; then $$sudo systemctl disable --now --quiet pgbouncer \
			|| echo "system-deps: could not stop the pgbouncer service (the tests do not use it)"; fi;; \
	esac

## make test: lint, type-check and run the whole suite with branch coverage.
test: system-deps $(BIN)/python
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

## make soak: the state-machine test alone, long (HYPOTHESIS_PROFILE=soak), on all three stores.
soak: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	HYPOTHESIS_PROFILE=soak $(BIN)/pytest tests/test_state_machine.py

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
