# Every target sets up .venv itself, so a fresh clone needs nothing but Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat setup.py | cksum | cut -d' ' -f1)
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install system-deps test lint demo dev bench clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,postgres,k8s]'
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

# Debian packages the test suite runs for real: PostgreSQL, Redis, Chromium (for the UI test).
system-deps:
	scripts/install-system-deps.sh

test: $(STAMP) system-deps
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/ruff check aircall_pipeline aircall_pipeline_tests scripts
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check aircall_pipeline aircall_pipeline_tests scripts

# The whole daily job against the built-in sandbox, into ./evidence, then verified.
demo: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/python scripts/demo.py

# dagster dev against a sandbox started alongside it.
dev: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/python scripts/dev.py

bench: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) .dagster_home evidence .pytest_cache
