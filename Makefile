# The two commands of the README: `make run` and `make test`. Both set up .venv by themselves:
# `run` with the runtime dependencies only, `test` (and `bench`) with the dev extras on top.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-stamp
DEV_STAMP := $(VENV)/.dev-stamp

.PHONY: run test lint types pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# After the runtime stamp, so a changed pyproject.toml reinstalls both.
$(DEV_STAMP): $(RUNTIME_STAMP)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

run: $(RUNTIME_STAMP)
	$(BIN)/python -m bot

test: $(DEV_STAMP)
	bash .ci/ensure-redis
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot handlers tests bench
	$(BIN)/pytest

bench: $(DEV_STAMP)
	bash .ci/ensure-redis
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
