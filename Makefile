# safevlm: two commands on a fresh machine.
#   make demo   set up (once) and run the main job on the embedded default
#   make test   set up (once) and run the test suite
#   make test-verl  the verl test in its own venv (verl 0.9.1 pins transformers < 5.11; CI runs it too)
# Idempotent: re-running reuses .venv and skips what is installed.

PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
# The CPU build of torch where there is no CUDA; users with a GPU get the CUDA build.
TORCH   ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo torch || echo torch==2.13.0)
# Where the real benchmark files live (override: make demo SAFEVLM_DATA_ROOT=/path).
SAFEVLM_DATA_ROOT ?= $(abspath ../shared/benchdata)
export SAFEVLM_DATA_ROOT
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

# verl's own environment: verl 0.9.1 with the pins it resolves, then safevlm without its dependencies
# (they would lift transformers past verl's pin) plus the few it imports here; TRL only for the chat
# templates it ships. torch first, as above (the CPU build from the local file where there is no CUDA).
VERL_VENV ?= .venv-verl
VERL_BIN  := $(VERL_VENV)/bin

.PHONY: setup demo test verl-env test-verl clean

# One torch thread for the demo and the tests unless the caller sets OMP_NUM_THREADS: on a shared
# 2-core machine two threads spin-wait on each other whenever another process runs (a gym
# pretraining step took 2.7 s with two threads against 0.31 s with one under load; docs/benchmarks.md).
# On a machine of your own with more cores: make demo OMP_NUM_THREADS=4
demo test: export OMP_NUM_THREADS ?= 1

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/safevlm demo

# pytest exits 5 when it collects nothing: fail loudly rather than pass an empty run.
test: setup
	@$(BIN)/python -m pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

verl-env: $(VERL_VENV)/.installed

$(VERL_VENV)/.installed: pyproject.toml
	test -d $(VERL_VENV) || $(PYTHON) -m venv $(VERL_VENV)
	$(VERL_BIN)/python -c "import torch" 2>/dev/null || $(VERL_BIN)/pip install -q "$(TORCH)"
	$(VERL_BIN)/pip install -q "verl==0.9.1" pytest num2words "openai>=1.40,<4"
	$(VERL_BIN)/pip install -q --no-deps -e . "trl>=1.16,<2"
	touch $@

test-verl: verl-env
	@SAFEVLM_REQUIRE_VERL=1 $(VERL_BIN)/python -m pytest -q -p no:cacheprovider tests/test_verl_real.py; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

clean:
	rm -rf $(VENV) $(VERL_VENV) build dist src/*.egg-info .pytest_cache
