# Messenger: developer commands. GNU make; a fresh clone needs only python3 on PATH (on
# Debian, run as root, the system libraries Qt needs are installed when missing).
#
#   make run           local server with demo accounts + the app (needs a display)
#   make test          ruff + the whole test suite, offscreen
#   make lint          ruff only
#   make screenshots   render docs/screenshots/ offscreen (tools/screenshots.py)
#   make dist          PyInstaller one-folder build in dist/messenger/
#   make test-frozen   make dist, then the frozen app's end-to-end tests
#   make ui            recompile ui/*.ui and resources/messenger.qrc into messenger/gui/
#   make bench         the benchmarks (load, floor, commit, msgids, history, transfer); they print figures
#   make clean         remove build output and caches (make distclean: the venv too)
#
# Variables: PYTHON (python3; 3.11 or newer: named, .venv is made with it), PORT (5555),
# PYTEST_ARGS (extra pytest arguments).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5555
PYTEST_ARGS ?=

# Debian packages of the shared libraries the PySide6 wheels load: enough for QtGui and
# QtWidgets offscreen (tests, screenshots) and for QtNetwork (GSSAPI).
QT_DEBS := libgl1 libegl1 libxkbcommon0 libglib2.0-0 libfontconfig1 libdbus-1-3 libgssapi-krb5-2
# ... and what the xcb and wayland platform plugins need on top, to open real windows.
QT_DISPLAY_DEBS := libx11-xcb1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 \
	libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xkb1 \
	libwayland-client0 libwayland-cursor0 libwayland-egl1

.PHONY: help test test-frozen lint run screenshots dist clean distclean qt-deps qt-display-deps \
	ui bench

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# --- system libraries (no apt-get at all when they are installed) ----------------------------

qt-deps:
	@bash tools/ensure-debs.sh $(QT_DEBS)

qt-display-deps:
	@bash tools/ensure-debs.sh $(QT_DEBS) $(QT_DISPLAY_DEBS)

# --- virtual environment ---------------------------------------------------------------------

# tools/ensure-venv.sh makes .venv with PYTHON, after checking that PYTHON is at least
# pyproject.toml's requires-python (a clear message otherwise), and makes it anew when its
# Python is too old or, with PYTHON given (make test PYTHON=python3.12), not PYTHON's.
MIN_PYTHON := $(shell sed -n 's/^requires-python *= *">= *\([0-9.]*\)".*/\1/p' pyproject.toml)
VENV_FLAGS := $(if $(filter command line environment,$(origin PYTHON)),--explicit)
ENSURE_VENV = bash tools/ensure-venv.sh $(VENV_FLAGS) "$(PYTHON)" $(VENV) $(MIN_PYTHON)
VENV_STALE := $(shell bash tools/ensure-venv.sh $(VENV_FLAGS) --stale "$(PYTHON)" $(VENV) \
	$(MIN_PYTHON) 2>/dev/null)

$(BIN)/python:
	@$(ENSURE_VENV)

.PHONY: venv-stale
venv-stale:

# Each stamp is redone when pyproject.toml changes, and when the venv must be made anew.
$(VENV)/.stamp-run: pyproject.toml $(if $(VENV_STALE),venv-stale) | $(BIN)/python
	@$(ENSURE_VENV)
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.stamp-test: pyproject.toml $(if $(VENV_STALE),venv-stale) | $(BIN)/python
	@$(ENSURE_VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.stamp-dist: pyproject.toml $(if $(VENV_STALE),venv-stale) | $(BIN)/python
	@$(ENSURE_VENV)
	$(BIN)/python -m pip install --quiet -e '.[dist]'
	touch $@

# --- commands --------------------------------------------------------------------------------

test: qt-deps $(VENV)/.stamp-test
	$(BIN)/ruff check .
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

# The frozen app's end-to-end tests (skipped by `make test`, which builds no dist/).
test-frozen: dist $(VENV)/.stamp-test
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q tests/e2e/test_frozen.py

lint: $(VENV)/.stamp-test
	$(BIN)/ruff check .

run: qt-display-deps $(VENV)/.stamp-run
	PORT=$(PORT) VENV=$(VENV) bash tools/run-local.sh

screenshots: qt-deps $(VENV)/.stamp-run
	QT_QPA_PLATFORM=offscreen $(BIN)/python tools/screenshots.py
	QT_QPA_PLATFORM=offscreen $(BIN)/python tools/screenshots.py --dark $(VENV)/dark-shots
	cp $(VENV)/dark-shots/main.png docs/screenshots/dark.png

# The display libraries are installed first so that PyInstaller bundles them with the app;
# PyInstaller itself needs objdump (binutils) and the shared libpython.
PYLIB_DEB := $(shell $(PYTHON) -c 'import sys; print("libpython%d.%d" % sys.version_info[:2])' 2>/dev/null)
dist: qt-display-deps $(VENV)/.stamp-dist
	@bash tools/ensure-debs.sh binutils
	@bash tools/ensure-debs.sh $(PYLIB_DEB) || echo "make dist: no Debian $(PYLIB_DEB) (a" \
	    "Python built elsewhere, e.g. pyenv, brings its own shared library, or none)"
	$(BIN)/pyinstaller --noconfirm messenger.spec
	@echo "built dist/messenger/messenger (the server: dist/messenger/messenger --server)"

ui: $(VENV)/.stamp-run
	for f in ui/*.ui; do \
	    $(BIN)/pyside6-uic "$$f" -o "messenger/gui/ui_$$(basename "$$f" .ui).py"; \
	done
	$(BIN)/pyside6-rcc --format-version 1 resources/messenger.qrc -o messenger/gui/resources_rc.py

bench: qt-deps $(VENV)/.stamp-test
	$(BIN)/python benchmarks/load.py
	$(BIN)/python benchmarks/floor.py
	$(BIN)/python benchmarks/commit.py --deferred
	$(BIN)/python benchmarks/msgids.py
	QT_QPA_PLATFORM=offscreen $(BIN)/python benchmarks/history.py
	$(BIN)/python benchmarks/transfer.py

clean:
	rm -rf build dist .pytest_cache .ruff_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
