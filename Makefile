# Two commands on a fresh machine:  make demo  |  make test
# Both create .venv (if missing), install what they need, and ensure ffmpeg is present.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS ?= test
PYTEST_ARGS ?=

export YOLO_OFFLINE := 1
export MPLBACKEND := Agg
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv ffmpeg chromium test-tools test lint typecheck imports shellcheck pytest demo bench clean

help:
	@echo "make demo   - run the offline model-assisted labeling loop end to end (./demo_out)"
	@echo "make test   - lint, import layers, type check, shellcheck and the test suite"
	@echo "make bench  - run the speed benchmarks in bench/ (ours vs the usual tool, with ratios)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	if $(BIN)/python -c "import torch, transformers" 2>/dev/null; then \
		$(BIN)/pip install -q --no-deps --no-build-isolation groundingdino-py==0.4.0; fi
	SAM2_BUILD_CUDA=0 $(BIN)/pip install -q --no-build-isolation "sam2>=1.0"
	@touch $(STAMP)

venv: $(STAMP) ffmpeg chromium

ffmpeg:
	@bash scripts/ensure-ffmpeg.sh

chromium:
	@bash scripts/ensure-chromium.sh

lint: venv
	$(BIN)/ruff check dl_utils tests bench scripts dockerPreAnnotation
	$(BIN)/ruff format --check dl_utils tests bench scripts dockerPreAnnotation

imports: venv
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy dl_utils

shellcheck: venv
	$(BIN)/shellcheck scripts/*.sh docker/*.sh dockerPreAnnotation/*.sh

# inotifywait lets the tests cover rerun.sh's inotify path (the polling path runs without it)
test-tools:
	@command -v inotifywait >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq inotify-tools >/dev/null 2>&1; } \
		|| echo "inotify-tools not installed: the rerun.sh inotify test will skip"

pytest: venv test-tools
	$(BIN)/python -m pytest tests dl_utils --doctest-modules $(PYTEST_ARGS)

test: lint imports typecheck shellcheck pytest

demo: venv
	$(BIN)/dl-utils demo --out demo_out

bench: venv
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .import_linter_cache build dist *.egg-info
