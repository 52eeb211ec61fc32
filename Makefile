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

# Dagster reads its instance config from DAGSTER_HOME once that is set, so the project's local
# dagster.yaml (run and pool limits) is linked there, unless that home already has its own.
$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	[ -e $@ ] || ln -s $(CURDIR)/dagster.yaml $@

# Debian packages the test suite runs for real: PostgreSQL, Redis, Chromium (for the UI test).
system-deps:
	scripts/install-system-deps.sh

test: lint system-deps
	$(BIN)/pytest -n 2 --dist loadfile

# ruff, then the layer contract of pyproject.toml's [tool.importlinter] (docs/architecture.md, "Layers").
lint: $(STAMP)
	$(BIN)/ruff check aircall_pipeline aircall_pipeline_tests scripts
	$(BIN)/lint-imports --no-cache

# The whole daily job against the built-in sandbox, into ./evidence, then verified.
demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python scripts/demo.py

# dagster dev against a sandbox started alongside it.
dev: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python scripts/dev.py

bench: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) .dagster_home evidence .pytest_cache
