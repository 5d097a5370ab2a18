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

.PHONY: run test eval admin bench venv annoy-wheel build deploy lint clean openapi

$(STAMP): requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

## make run: local stack (moto + gateway) with a demo tenant, data and a trained model
run: $(STAMP)
	$(PY) -m local.stack --port $(PORT)

## make test: unit, integration, events, e2e, sam validate/build and the layer binary check
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## make eval: offline evaluation (popularity, EASE, implicit ALS, the engine's default model) on DATA=<ratings file>, JSON to OUT=<path>
eval: $(STAMP) $(VENV)/.bench-installed
	$(PY) -m recengine.evaluation $(if $(DATA),--data $(DATA)) $(if $(OUT),--out $(OUT))

$(VENV)/.bench-installed: bench/requirements.txt $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	@touch $@

## make bench: engine speed, training and model-load figures on synthetic data vs the targets, JSON to OUT=<path>
bench: $(STAMP)
	$(PY) -m bench.speed $(if $(OUT),--out $(OUT))

## make admin ARGS="--local tenant list": the tenant admin CLI (python -m recengine.admin)
admin: $(STAMP)
	$(PY) -m recengine.admin $(ARGS)

## make annoy-wheel: a manylinux2014 annoy wheel that loads on Lambda (glibc 2.26, no AVX-512)
annoy-wheel: $(STAMP)
	scripts/build_annoy_wheel.sh $(PY) $(WHEELHOUSE)

## make build: sam build with the portable annoy wheel
build: annoy-wheel
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH PIP_FIND_LINKS=$(CURDIR)/$(WHEELHOUSE) \
	  $(VENV)/bin/sam build --region $(AWS_REGION) --build-dir $(SAM_BUILD_DIR)
	$(PY) scripts/check_so.py $(SAM_BUILD_DIR)/EngineLayer

## make deploy: build, then a guided deploy into your own account
deploy: build
	$(VENV)/bin/sam deploy --guided --template-file $(SAM_BUILD_DIR)/template.yaml

## make openapi: regenerate docs/openapi.json from the functions' routes and the pydantic models
openapi: $(STAMP)
	$(PY) scripts/openapi.py

lint: $(STAMP)
	$(VENV)/bin/sam validate --lint --region $(AWS_REGION)

clean:
	rm -rf .aws-sam build .pytest_cache
