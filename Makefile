# The two commands of the README: `make run` and `make test`. Both set up .venv by themselves:
# `run` with the runtime dependencies only, `test` (and `bench`) with the dev extras on top.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-stamp
DEV_STAMP := $(VENV)/.dev-stamp

.PHONY: run test lint types pytest bench messages clean

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

# After a change to the bot's words: extract every msgid (Babel, bot/i18n/babel.cfg) and merge
# it into both catalogues; then translate what is new in bot/i18n/locales/zh_CN (the tests say
# what is missing). No line numbers in the catalogues, so a moved line changes nothing there.
MESSAGES_POT := $(VENV)/dliconn.pot
messages: $(DEV_STAMP)
	$(BIN)/pybabel -q extract -F bot/i18n/babel.cfg --add-location=file --sort-by-file \
		--omit-header --no-wrap -o $(MESSAGES_POT) .
	$(BIN)/pybabel -q update -i $(MESSAGES_POT) -d bot/i18n/locales -D dliconn --init-missing \
		--no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date --no-wrap -l en
	$(BIN)/pybabel -q update -i $(MESSAGES_POT) -d bot/i18n/locales -D dliconn --init-missing \
		--no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date --no-wrap -l zh_CN

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
