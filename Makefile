# The two commands of the README:
#   make demo   installs penact into .venv/ and runs its main job on the embedded default data
#   make test   installs penact into .venv/ and runs every test (nbdev_test, then pytest)
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
BIN := $(VENV)/bin
PY := python3
STAMP := $(VENV)/.installed
# the checkout's own penact first (also in a git worktree that shares another checkout's .venv)
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))
# MNIST from a local copy beside the repository when there is one (data_root() reads $PENACT_DATA)
LOCAL_DATA := $(abspath ../shared/data)
ifeq ($(PENACT_DATA),)
ifneq ($(wildcard $(LOCAL_DATA)/MNIST/raw),)
export PENACT_DATA := $(LOCAL_DATA)
endif
endif

.PHONY: install demo test test-all bench gpu-check gpu-wheels export clean-nbs docs docs-offline

$(STAMP): settings.ini setup.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e ".[dev]"
	# Animal-MNIST (the OOD study's semantic-shift set) is a data file inside this wheel; its tensorflow dependency is not needed
	$(BIN)/pip install -q --no-deps animal-mnist==0.4
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH penact demo

test: $(STAMP)
	export PATH=$(abspath $(BIN)):$$PATH
	python .ci/mnist.py
	nbdev_test --n_workers 2 --do_print
	python -m pytest tests/ -q

test-all: $(STAMP)
	export PATH=$(abspath $(BIN)):$$PATH
	python .ci/mnist.py
	nbdev_test --n_workers 2 --flags "slow" --do_print
	python -m pytest tests/ -q

# speed benchmarks: each prints its ratios against a baseline timed in the same run, also kept in results/bench/
bench: $(STAMP)
	export PATH=$(abspath $(BIN)):$$PATH PYTHONWARNINGS=ignore::FutureWarning
	mkdir -p results/bench
	python bench/vmf_sampler.py | tee results/bench/vmf_sampler.txt
	python bench/vmf_density.py | tee results/bench/vmf_density.txt
	python bench/hvae_step.py | tee results/bench/hvae_step.txt
	python bench/gan_step.py | tee results/bench/gan_step.txt
	python bench/ood_score.py --threads 1 | tee results/bench/ood_score.txt

# the GPU check (bench/gpu_check.py): CUDA tests, cuda notebook cells, timings as ratios, the GPU commands end to end,
# tables as $(GPU_CHECK_OUT)/gpu_*.txt. No install step: it runs with .venv/ where there is one, else the machine's python3.
# DRY_RUN=1: the same on the CPU with tiny sizes (tests/test_gpu_check.py runs it in `make test`)
DRY_RUN ?=
GPU_CHECK_OUT ?= $(if $(DRY_RUN),build/gpu-check-dry,results/bench)
gpu-check:
	py=$(BIN)/python; test -x $$py || py=python3
	$$py bench/gpu_check.py --out $(GPU_CHECK_OUT) $(if $(DRY_RUN),--dry-run)

# wheels for an offline GPU machine whose python3 has PyTorch but not fastai (bench/gpu-requirements.txt), into .whl/
GPU_PYTHON ?= 3.12
gpu-wheels:
	py=$(BIN)/python; test -x $$py || py=python3
	$$py -m pip download -q --no-deps --only-binary=:all: --python-version $(GPU_PYTHON) --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  -d .whl -r bench/gpu-requirements.txt

export: $(STAMP)
	export PATH=$(abspath $(BIN)):$$PATH
	nbdev_export && nbdev_clean && python .ci/readme.py && python .ci/docs.py

# the site with Quarto (GitHub's deploy workflow); docs-offline builds the same pages into docs/ without it
docs: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH nbdev_docs

docs-offline: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH python .ci/docs.py
