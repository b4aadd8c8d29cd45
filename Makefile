# Easel: `make run` sets everything up and starts the app; `make test` sets up and tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export QT_QPA_PLATFORM ?= $(if $(DISPLAY)$(WAYLAND_DISPLAY),,offscreen)

.PHONY: setup run test lint bench package package-test clean

# The window's environment has the server (issue: `make run` can serve); the tests' also has
# Ray (the `cluster` extra), so the Ray Serve tests run rather than skip.
EXTRAS ?= dev,server,server-test
test: EXTRAS = dev,server,server-test,cluster

setup:
	@$(PYTHON) scripts/bootstrap.py --extras $(EXTRAS)

run: setup
	$(PY) -m app

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

lint: setup
	$(PY) -m ruff check app tests bench scripts packaging docs
	$(PY) -m ruff format --check app tests bench scripts packaging docs
	$(VENV)/bin/lint-imports
	$(PY) -m mypy
	$(VENV)/bin/zizmor --offline .github/workflows

bench: setup
	$(PY) bench/engine_overhead.py
	$(PY) bench/preview_cost.py
	$(PY) bench/startup.py
	$(PY) bench/ui_stall.py
	$(PY) bench/gallery.py

# The Linux one-folder bundle (dist/Easel) and its .tar.gz; macOS/Windows: packaging/build_*.
package:
	@$(PYTHON) scripts/bootstrap.py --extras dev,package
	packaging/build_linux.sh

# The frozen app's --selftest and window, and that it writes nothing inside itself.
package-test:
	$(PY) packaging/check_bundle.py dist/Easel

clean:
	rm -rf $(VENV) build dist .pytest_cache
