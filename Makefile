# nudge - the two commands a new machine needs are `make demo` and `make test`; both install what they need.
SHELL := /bin/bash
export TZ := UTC

# Lambda runs python3.13; the development image ships it through pyenv.
# A pyenv shim may exist without working, so each candidate must really run 3.13.
PYTHON313 ?= $(shell for p in "$$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python3.13 $$(command -v python3.13); do \
  "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam

.PHONY: install browser demo serve test lint typecheck any-hour sam-validate sam-build build-SharedLayer bench clean pr

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON313)" || { echo "python3.13 is needed (Lambda's runtime); install it, e.g. with pyenv" >&2; exit 1; }
	$(PYTHON313) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv
	# --compile-bytecode: uv writes no .pyc by default, and where PYTHONDONTWRITEBYTECODE is set the interpreter
	# never does, so every test process and every local stack compiled moto's 1,458 modules again (README.md)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[local,dev,charts]'
	# pytest rewrites the asserts of every module of its plugins' packages (schemathesis, hypothesis, anyio, xdist:
	# some 280) in each process it starts, and keeps the result only where bytecode may be written: once, here
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -p no:cacheprovider --help > /dev/null
	touch $@

install: $(BIN)/.installed

# The browser tests (tests/e2e/test_browser.py) run the unmodified analytics.js from npm in Debian's chromium, driven
# by the playwright wheel (its own driver; no browser download). apt-get runs only when chromium is missing.
BROWSER_DIR := tests/browser
$(BIN)/.browser: $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	@missing=""; [ -x /usr/bin/chromium ] || missing="chromium"; command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "make: missing$$missing; install it (sudo apt-get install$$missing): the browser tests need it" >&2; fi; \
	fi
	@if command -v npm >/dev/null; then cd $(BROWSER_DIR) && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "make: no npm, so no analytics.js: the browser tests will fail under CI and skip elsewhere" >&2; fi
	@[ -x /usr/bin/chromium ] && [ -d $(BROWSER_DIR)/node_modules ] && touch $@ || true

browser: install $(BIN)/.browser

demo: install  ## command 1: the local stack with a demo shop, step by step
	$(BIN)/nudge demo

serve: install  ## the local stack in the foreground on 127.0.0.1:8787
	$(BIN)/nudge serve --port 8787 --config events/demo-shop.yaml

test: install $(BIN)/.browser  ## command 2: every test suite
	$(BIN)/python -m compileall -q -j 0 shared functions infra tests  # read by each of the suite's processes
	# pytest may keep the test modules' rewritten asserts (and its plugins' imports) for the next run (README.md)
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest

# A synthetic shop (200 customers x 30 days, fixed seed) through the real handlers: AWS calls and list-price cost per
# event, the decision core's speed, the handlers' cold imports; prints the tables and rewrites docs/PERFORMANCE.md.
bench: install
	$(BIN)/nudge bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy shared functions infra

# The time-sensitive tests under a wall clock started at other instants (tests/clockshift: only the wall clock moves;
# libfaketime also moves the monotonic clock, and Python's timed waits hang). Not in `pr`: about 50 s per instant on
# the 2-core machine. Figures and the full-suite runs: docs/RELIABILITY.md, "Any hour, any date".
ANY_HOUR_AT ?= 2027-03-14 06:00:00,2027-03-14 23:59:30,2026-01-01 03:00:00,2027-06-30 12:00:00
ANY_HOUR_TESTS ?= tests/unit tests/integration/test_channel_router.py tests/integration/test_public_api.py
any-hour: install
	@instants="$(ANY_HOUR_AT)"; IFS=, ; for at in $$instants; do echo "== wall clock from $$at UTC"; \
	  tests/clockshift/at "$$at" $(BIN)/pytest -q -p no:cacheprovider $(ANY_HOUR_TESTS) || exit 1; done

# aws-sam-cli pins boto3 and click, so it lives in its own virtual environment. It needs Python >= 3.10; the
# python3.13 the project needs anyway is used rather than whatever `python3` is. 1.145 brought ParentPackageMode.
$(SAM_VENV)/.installed:
	@test -n "$(PYTHON313)" || { echo "python3.13 is needed (Lambda's runtime); install it, e.g. with pyenv" >&2; exit 1; }
	$(PYTHON313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check uv
	$(SAM_VENV)/bin/uv pip install --quiet --python $(SAM_VENV)/bin/python 'aws-sam-cli>=1.145'
	touch $@

sam-validate sam-build: export SAM_CLI_TELEMETRY := 0

sam-validate: $(SAM_VENV)/.installed
	$(SAM_VENV)/bin/sam validate --lint --template template.yaml --region us-east-1

# sam build finds the interpreter for BuildMethod python3.13 as `python3.13` on PATH and installs the layer's
# requirements as arm64 wheels with it (no Docker); the artifacts land in .aws-sam/build.
sam-build: $(SAM_VENV)/.installed  ## no Docker needed; python3.13 must be installed
	@test -n "$(PYTHON313)" || { echo "python3.13 is needed: sam build packages for Lambda's python3.13" >&2; exit 1; }
	PATH="$(dir $(PYTHON313)):$$PATH" $(SAM_VENV)/bin/sam build --template template.yaml

# The shared layer (template.yaml: SharedLayer, BuildMethod makefile). sam build runs this target in a copy of shared/
# with ARTIFACTS_DIR set; it does what the python3.13 build method did (the requirements as arm64 wheels for
# python3.13, the package under python/shared) and then compiles every module of the layer to bytecode. Lambda's /opt
# is read-only, so a layer without .pyc is compiled from source at every cold start. unchecked-hash: the .pyc is used
# without comparing it to the source's timestamp, which the layer's zip does not keep faithfully.
LAYER_DIR = $(ARTIFACTS_DIR)/python
build-SharedLayer:
	@test -n "$(ARTIFACTS_DIR)" || { echo "build-SharedLayer is run by sam build (make sam-build)" >&2; exit 1; }
	@test -n "$(PYTHON313)" || { echo "python3.13 is needed: the layer is built for Lambda's python3.13" >&2; exit 1; }
	$(PYTHON313) -m pip install --quiet --disable-pip-version-check --no-compile --target "$(LAYER_DIR)" \
	  --platform manylinux2014_aarch64 --implementation cp --python-version 3.13 --only-binary=:all: -r requirements.txt
	rm -rf "$(LAYER_DIR)/bin"  # console scripts of the dependencies: nothing on Lambda runs them
	$(PYTHON313) -c 'import shutil, sys; shutil.copytree(".", sys.argv[1], ignore=shutil.ignore_patterns(*sys.argv[2:]))' \
	  "$(LAYER_DIR)/shared" __pycache__ '*.pyc' requirements.txt
	$(PYTHON313) -m compileall -q -f -j0 --invalidation-mode unchecked-hash "$(LAYER_DIR)"

pr: lint typecheck test sam-validate  ## everything CI runs

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam
