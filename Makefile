# The project's commands. Quick start: `make run` (the system) and `make test` (the suite).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python whatsappcrm_backend/manage.py
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-dev run test lint format lock bench demo clean

# Shared setup: a virtualenv with the pinned runtime dependencies (hash-checked).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-base: requirements/base.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/base.txt
	touch $@

# The deployment guide says `cd whatsappcrm_backend && source venv/bin/activate`: point that
# name at the root virtualenv (a symlink, ignored by git).
whatsappcrm_backend/venv: | $(BIN)/python
	ln -sfn ../$(VENV) $@

$(VENV)/.installed-dev: requirements/base.txt requirements/dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/base.txt -r requirements/dev.txt
	touch $(VENV)/.installed-base $@

install: $(VENV)/.installed-base whatsappcrm_backend/venv

install-dev: $(VENV)/.installed-dev whatsappcrm_backend/venv

# The whole system: app, Paynow and WhatsApp emulators, tasks; prints what to open.
run: install
	$(BIN)/python scripts/run_local.py --host $(HOST) --port $(PORT)

# A scripted traveller books and pays against a running `make run` (or starts one).
demo: install
	$(BIN)/python scripts/demo.py --site http://$(HOST):$(PORT)

# Every benchmark, one table (BENCH_ARGS: --quick, --full, --only ack,..., --profile).
bench: install-dev
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest

# Re-pin dependencies after editing requirements/*.in.
lock: install-dev
	$(BIN)/pip install --quiet pip-tools
	cd requirements && ../$(BIN)/pip-compile -q --generate-hashes --no-emit-index-url --no-emit-trusted-host --strip-extras --allow-unsafe -o base.txt base.in
	cd requirements && ../$(BIN)/pip-compile -q --generate-hashes --no-emit-index-url --no-emit-trusted-host --strip-extras --allow-unsafe -o dev.txt dev.in

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
