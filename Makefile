# Two commands for a newcomer: `make test` and `make demo`. Both install what they need first.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
UV    := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export SVT_LOG ?= 1

.PHONY: install test test-slow demo default-model clean

install: $(STAMP)

# Re-runs only when the dependency declaration or this file changes.
$(STAMP): pyproject.toml Makefile scripts/install_system.sh
	@scripts/install_system.sh
	@test -x $(PY) || python3.11 -m venv $(VENV)
	@test -x $(UV) || $(PY) -m pip install -q --disable-pip-version-check uv
	$(UV) pip install --python $(PY) -q -e '.[test]'
	# robosuite's mink pin and openpi-client's numpy<2 pin conflict with numpy 2: install without deps
	# (their real runtime needs are declared in pyproject.toml).
	$(UV) pip install --python $(PY) -q --no-deps robosuite==1.5.2 openpi-client==0.1.2
	@touch $(STAMP)

# Lint, format check and the layer contracts (pyproject.toml [tool.importlinter]) run before the suite.
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

demo: install
	$(PY) scripts/demo.py

# Rebuild the embedded default value model from scratch (RoboSuite data -> world-model pretraining ->
# WVM training -> value_labeling/models/default_wvm/); about an hour on 2 cores. Then score it with
# `$(PY) -m bench.robosuite_bench`.
default-model: install
	$(PY) -m bench.build_default_model

clean:
	rm -rf $(VENV) .pytest_cache
