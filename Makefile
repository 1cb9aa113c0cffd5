# gpbridge developer commands. `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATABASE ?= sqlite:///var/gpbridge.db
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test lint bench spec clean

# setup.py compiles these with mypyc: an edit needs a reinstall to take effect (tests/test_compiled.py checks)
COMPILED := $(shell sed -n 's/^ *"\(src\/[^"]*\.py\)",$$/\1/p' setup.py)

$(STAMP): pyproject.toml setup.py $(COMPILED)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: install and start gpbridge on the embedded SQLite database, with demo data when empty
run: $(STAMP)
	$(BIN)/gpbridge serve --database $(DATABASE) --host $(HOST) --port $(PORT) --demo --insecure-dev

## test: install dev extras and run the whole suite (PostgreSQL tests need GPBRIDGE_TEST_POSTGRES)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests tools bench

## bench: run every benchmark in bench/ and print figures
bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## spec: regenerate src/gpbridge/fhir/spec from ../shared/data
spec: $(STAMP)
	$(BIN)/python tools/compile_spec.py
	$(BIN)/python tools/compile_profiles.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
