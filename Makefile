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

.PHONY: install demo test test-all bench export clean-nbs docs docs-offline

$(STAMP): settings.ini setup.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH penact demo

test: $(STAMP)
	export PATH=$(abspath $(BIN)):$$PATH
	nbdev_test --n_workers 2
	python -m pytest tests/ -q

test-all: $(STAMP)
	export PATH=$(abspath $(BIN)):$$PATH
	nbdev_test --n_workers 2 --flags "slow"
	python -m pytest tests/ -q

# speed benchmarks: each prints its ratios against a baseline timed in the same run, also kept in results/bench/
bench: $(STAMP)
	export PATH=$(abspath $(BIN)):$$PATH PYTHONWARNINGS=ignore::FutureWarning
	mkdir -p results/bench
	python bench/vmf_sampler.py | tee results/bench/vmf_sampler.txt
	python bench/vmf_density.py | tee results/bench/vmf_density.txt
	python bench/hvae_step.py | tee results/bench/hvae_step.txt
	python bench/gan_step.py | tee results/bench/gan_step.txt

export: $(STAMP)
	export PATH=$(abspath $(BIN)):$$PATH
	nbdev_export && nbdev_clean && python .ci/readme.py && python .ci/docs.py

# the site with Quarto (GitHub's deploy workflow); docs-offline builds the same pages into docs/ without it
docs: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH nbdev_docs

docs-offline: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH python .ci/docs.py
