# Two commands for a newcomer: `make run` and `make test`. Everything installs itself into .venv.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WHEELHOUSE := build/wheelhouse
export PYTHONPATH := $(CURDIR)/layers/engine:$(CURDIR)
export AWS_REGION ?= us-east-1
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
PORT ?= 3000
SAM_BUILD_DIR ?= .aws-sam/build

.DEFAULT_GOAL := help
.PHONY: train-spark eval-spark help load run test test-unit test-integration test-faults fault-matrix test-e2e fuzz eval admin bench bench-runtimes venv annoy-wheel build deploy lint clean openapi

$(STAMP): requirements-dev.txt requirements-spark.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -r requirements-spark.txt
	@touch $(STAMP)

venv: $(STAMP)

## help: this list
help:
	@awk '/^## [a-z0-9-]+:/ { sub(/^## /, ""); i = index($$0, ":"); printf "  make %-17s %s\n", substr($$0, 1, i - 1), substr($$0, i + 2) }' $(MAKEFILE_LIST)

## run: local stack (moto + gateway) with a demo tenant, data and a trained model (RUN_ARGS=--stripe-standin: checkout on a local Stripe stand-in)
run: $(STAMP)
	$(PY) -m local.stack --port $(PORT) $(RUN_ARGS)

# pytest-xdist: 2 worker processes by default (CI has 2 cores; TEST_JOBS=0 runs in this process, in file
# order). Each test file runs whole on one worker, the local-stack tests (e2e, fuzz) on the same one
# (tests/conftest.py).
TEST_JOBS ?= 2
XDIST = -n $(TEST_JOBS) --dist loadgroup

## test: every test: unit, integration, faults, end-to-end, sam validate/build and the layer binary check
test: $(STAMP)
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

## test-unit: unit tests only (no socket may be opened; about a minute)
test-unit: $(STAMP)
	$(PY) -m pytest tests/unit $(XDIST) $(PYTEST_ARGS)

## test-integration: integration tests through the handlers on moto, in-process (no socket may be opened)
test-integration: $(STAMP)
	$(PY) -m pytest tests/integration $(XDIST) $(PYTEST_ARGS)

## test-faults: AWS faults injected on the real client path, missing and corrupt models, batch redelivery (no socket)
test-faults: $(STAMP)
	$(PY) -m pytest tests/faults $(XDIST) $(PYTEST_ARGS)

## fault-matrix: runs the faults suite and prints the fault x route -> outcome table (Markdown)
fault-matrix: $(STAMP)
	$(PY) -m bench.fault_matrix $(if $(OUT),--out $(OUT))

## test-e2e: end-to-end through the local HTTP stack (the CI fuzz run included), and the packaging checks (sam validate, sam build)
test-e2e: $(STAMP)
	$(PY) -m pytest tests/e2e tests/fuzz tests/packaging $(XDIST) $(PYTEST_ARGS)

## fuzz: schemathesis over docs/openapi.json against a fresh local stack (every phase, EXAMPLES per operation), and a report
fuzz: $(STAMP)
	$(PY) -m bench.fuzz $(if $(EXAMPLES),--examples $(EXAMPLES)) $(if $(SEED),--seed $(SEED))

## eval: offline evaluation (popularity, EASE, implicit ALS, the default model) on DATA=<ratings file>, JSON to OUT=<path>
eval: $(STAMP) $(VENV)/.bench-installed
	$(PY) -m tools.evaluation $(if $(DATA),--data $(DATA)) $(if $(OUT),--out $(OUT))

## train-spark: the Spark training job in local mode on DATA=<ratings file or events Parquet> (ITEMS=<catalogue>), the artefact into OUT=<dir>
train-spark: $(STAMP)
	$(PY) -m spark.train_job --events $(or $(DATA),$(CURDIR)/../shared/data/goodbooks-10k/ratings_users5pct.csv.gz) \
	  $(if $(ITEMS),--items $(ITEMS)) --out $(or $(OUT),build/spark-artefact) --tenant-id local --model-id spark-local

## eval-spark: make eval's protocol and JSON for the default model trained by the Spark job, on DATA=<ratings file>, JSON to OUT=<path>
eval-spark: $(STAMP)
	$(PY) -m spark.evaluate $(if $(DATA),--data $(DATA)) $(if $(OUT),--out $(OUT))

$(VENV)/.bench-installed: bench/requirements.txt $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	@touch $@

## bench: engine speed, training and model-load figures vs the targets; ALS fold-in vs implicit vs the bare kernel (bench/engine_side_by_side.py); per route AWS calls, round trips and modelled latency (bench/request_path.py); artefact size and first answer from S3 at 10k/100k items (bench/first_answer.py); JSON to OUT=<path>
bench: $(STAMP) $(VENV)/.bench-installed
	$(PY) -m bench.speed $(if $(OUT),--out $(OUT))
	$(PY) -m bench.engine_side_by_side $(if $(OUT),--out $(basename $(OUT)).engine_side_by_side.json)
	$(PY) -m bench.request_path $(if $(OUT),--out $(basename $(OUT)).request_path.json)
	$(PY) -m bench.first_answer --files $(if $(OUT),--out $(basename $(OUT)).first_answer.json)
	$(PY) -m bench.import_time --functions recommend,similar,interactions --floor $(if $(OUT),--out $(basename $(OUT)).import_time.json)

# The interpreters of the newer Lambda runtimes (SnapStart needs python3.12 or later), where pyenv has them.
PYTHONS ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12)) $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13))
## bench-runtimes: handler import and first answer under python3.12 / python3.13 (PYTHONS=<paths>) beside this interpreter, the same pinned packages
bench-runtimes: $(STAMP) $(VENV)/.bench-installed
	$(PY) -m bench.import_time --functions recommend --runs 15 --python $(CURDIR)/$(PY) $(foreach p,$(PYTHONS),--python $(p))
	$(foreach p,$(CURDIR)/$(PY) $(PYTHONS),$(PY) -m bench.first_answer --sizes 10000 --runs 5 --python $(p) &&) true

LOAD_VENV := .venv-load
$(LOAD_VENV)/.installed: bench/load-requirements.txt
	@test -x $(LOAD_VENV)/bin/python || $(PYTHON) -m venv $(LOAD_VENV)
	$(LOAD_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOAD_VENV)/bin/python -m pip install --quiet -r bench/load-requirements.txt
	@touch $@

## load: locust (headless) against a fresh local stack for DURATION s (default 60) with USERS clients, then past the plan's rate: per route req/s, p50/p99, errors and 429s
load: $(STAMP) $(LOAD_VENV)/.installed
	$(PY) -m bench.load $(if $(DURATION),--duration $(DURATION)) $(if $(USERS),--users $(USERS)) $(if $(OUT),--out $(OUT))

## admin: the tenant admin and training CLI, e.g. ARGS="--local tenant list" (python -m tools.admin)
admin: $(STAMP)
	$(PY) -m tools.admin $(ARGS)

## annoy-wheel: a manylinux2014 annoy wheel that loads on Lambda (glibc 2.26, no AVX-512)
annoy-wheel: $(STAMP)
	scripts/build_annoy_wheel.sh $(PY) $(WHEELHOUSE)

# The layer carries only what the functions run. The Lambda runtime provides boto3 and botocore;
# aws-xray-sdk (for Powertools' Tracer) pulls in a second botocore and its dependencies (30 MB):
# one copy, the runtime's. numpy's own test suites and type stubs are never imported (10 MB).
RUNTIME_PROVIDED := botocore botocore-* urllib3 urllib3-* dateutil python_dateutil-* six.py six-*

## build: sam build with the portable annoy wheel, without what the Lambda runtime provides
build: annoy-wheel
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH PIP_FIND_LINKS=$(CURDIR)/$(WHEELHOUSE) \
	  $(VENV)/bin/sam build --region $(AWS_REGION) --build-dir $(SAM_BUILD_DIR)
	cd $(SAM_BUILD_DIR)/EngineLayer/python && rm -rf $(RUNTIME_PROVIDED) && \
	  find numpy -type d -name tests -prune -exec rm -rf {} + && find . -name '*.pyi' -delete
	$(PY) scripts/check_so.py $(SAM_BUILD_DIR)/EngineLayer

## deploy: build, then a guided deploy into your own account
deploy: build
	$(VENV)/bin/sam deploy --guided --template-file $(SAM_BUILD_DIR)/template.yaml

## openapi: regenerate docs/openapi.json from the functions' routes and the pydantic models
openapi: $(STAMP)
	$(PY) scripts/openapi.py

## lint: sam validate --lint
lint: $(STAMP)
	$(VENV)/bin/sam validate --lint --region $(AWS_REGION)

## clean: remove build outputs
clean:
	rm -rf .aws-sam build .pytest_cache
