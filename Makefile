# Two entry points: `make demo` (the main job) and `make test` (the whole suite).
# Each creates or updates its own environment from uv.lock; only python3 (>= 3.11) and make are needed.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
RUN := $(UV) run --locked --no-sync

.PHONY: demo test env lint typecheck browser clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv>=0.5,<1"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --all-extras --python $(PYTHON)
	touch $@

env: $(VENV)/.synced

demo: env
	$(RUN) transferscope demo --out reports/demo

# Debian's chromium for the report's browser test; installed only where it is missing and we may.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: install Debian's chromium package to run the browser test" >&2; fi; }

lint: env
	$(RUN) ruff check analysis tests benchmarks
	$(RUN) ruff format --check analysis tests benchmarks
	$(RUN) mypy
	$(RUN) lint-imports

test: env browser lint
	$(RUN) pytest -n 2 --dist loadfile

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
