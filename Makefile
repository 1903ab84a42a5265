# rarl developer commands. `make demo` and `make test` are the two commands a newcomer needs.
#
# On a CPU machine the CPU build of PyTorch is installed first (TORCH_SPEC), so that no CUDA packages are
# pulled in. GPU users: install the PyTorch build matching their CUDA first, then `make install TORCH_SPEC=`.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.rarl-installed

.PHONY: install test test-all test-fast lint format demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"; fi
	$(BIN)/python -m pip install --quiet -e ".[dev,tensorboard,iqa]"
	touch $(STAMP)

install: $(STAMP)

# The default suite (what CI runs): everything but the tests marked slow.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

# Everything, including the slow tiers (multi-process, long tiny-model runs).
test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

demo: $(STAMP)
	$(BIN)/rarl demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache runs
