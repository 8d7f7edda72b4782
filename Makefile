# Two commands: `make run` (the whole flow on the embedded default, `pique-engine dev`) and `make test`.
# Each sets itself up: a virtualenv in .venv with pique-engine, the example plugin and test tools.

PYTHON ?= python3
PORT ?= 8080
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast install clean fixtures bench

$(STAMP): pyproject.toml plugins/pique-qc/pyproject.toml plugins/pique-safety/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]" -e plugins/pique-qc -e plugins/pique-safety
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/pique-engine dev --port $(PORT)

# The whole suite, with the real services (PostgreSQL, Pub/Sub emulator, fake-gcs-server, Chromium).
test: $(STAMP)
	$(BIN)/python -m pytest tests plugins/pique-qc/tests plugins/pique-safety/tests

# The unit tests alone: everything not marked `integration`, on every CPU. Each file runs on one
# worker, so a module's expensive fixture (a generated clip, a model's output) is built once.
# Bytecode caching on (some machines turn it off): pytest then keeps its rewritten test modules
# instead of rewriting ~370 of them in every worker process.
test-fast: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -q -n auto --dist loadfile -m "not integration" tests plugins/pique-qc/tests plugins/pique-safety/tests

fixtures: $(STAMP)
	$(BIN)/python fixtures/generate.py

clean:
	rm -rf $(VENV)
