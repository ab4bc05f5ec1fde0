# napari-axons: `make demo` and `make test` do all the set-up on a fresh machine.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# The CPU build of torch that these machines carry on disk; a GPU user keeps their own
# (pyproject.toml only asks for torch>=2.1).
TORCH_SPEC ?= torch==2.13.0
DEMO_DIR ?= demo

.PHONY: install install-test system-deps demo test test-quick bench clean help

help:
	@echo "make demo   - create $(VENV), install, and tile + segment the bundled sample"
	@echo "make test   - install test extras (and Xvfb when missing), run the whole suite"
	@echo "make test-quick - the same checks, tests without models and slow ones (development)"
	@echo "make bench  - run the benchmarks (generates its own inputs)"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Xvfb and the Qt/X libraries that napari needs to run the GUI tests without a display;
# skipped when they are present.
X_PACKAGES := xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libgl1 libegl1 \
	libglx-mesa0 libgl1-mesa-dri libxkbcommon-x11-0 libxcb-cursor0 libxcb-image0 libxcb-randr0 \
	libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libfontconfig1 libdbus-1-3 \
	libglib2.0-0
system-deps:
	@if command -v Xvfb >/dev/null 2>&1 && ldconfig -p | grep -q libxcb-cursor; then :; else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(X_PACKAGES) >/dev/null; \
	fi

demo: $(VENV)/.installed
	$(VENV)/bin/napari-axons sample $(DEMO_DIR)/sample.tif --overwrite
	$(VENV)/bin/napari-axons tile $(DEMO_DIR)/sample.tif -o $(DEMO_DIR)/export --model otsu --overwrite

# ruff, the import contract of the wings (pyproject.toml [tool.importlinter]), then pytest.
test: system-deps $(VENV)/.installed-test
	$(PY) -m ruff check src tests bench
	$(VENV)/bin/lint-imports
	QT_API=pyqt6 $(PY) -m pytest

test-quick: system-deps $(VENV)/.installed-test
	$(PY) -m ruff check src tests bench
	$(VENV)/bin/lint-imports
	QT_API=pyqt6 $(PY) -m pytest -m "not model and not slow"

bench: $(VENV)/.installed-test
	$(PY) -m bench

clean:
	rm -rf $(DEMO_DIR) build dist .pytest_cache
