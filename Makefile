# Easel: `make run` sets everything up and starts the app; `make test` sets up and tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export QT_QPA_PLATFORM ?= $(if $(DISPLAY)$(WAYLAND_DISPLAY),,offscreen)

.PHONY: setup run test lint bench package package-test clean

setup:
	@$(PYTHON) scripts/bootstrap.py --extras dev

run: setup
	$(PY) -m app

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

lint: setup
	$(PY) -m ruff check app tests bench scripts
	$(PY) -m ruff format --check app tests bench scripts
	$(VENV)/bin/lint-imports
	$(PY) -m mypy

bench: setup
	$(PY) bench/engine_overhead.py
	$(PY) bench/preview_cost.py

clean:
	rm -rf $(VENV) build dist .pytest_cache
