# callinsights: `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
CALLS  ?= data/transcripts_v3

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(PY) ## create .venv and install pinned requirements and the package (editable)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .

data: ## link the client's calls and labels from ../shared/data into data/
	$(PY) -m callinsights data

analyze: install data ## the main job: label every call offline with the embedded model -> results/predictions.csv
	$(PY) -m callinsights analyze $(CALLS) --out results/predictions.csv

test: install data ## run the tests (real inference, a real model server and Ray included), check and run the notebooks
	$(PY) -m pip install --quiet -r requirements-scale.txt
	$(PY) -m pytest -q
	$(PY) -m callinsights.notebooks check
	$(PY) -m callinsights.notebooks run --small

notebooks: install data ## execute every notebook top to bottom and render reports/*.html
	$(PY) -m callinsights.notebooks run

benchmark: install data ## pipeline speed against llama.cpp's own prompt evaluation
	$(PY) benchmarks/throughput.py --calls 20

benchmark-scale: install data ## calls/min: local, model server at concurrency 1/2/4, Ray with 1/2 workers
	$(PY) -m pip install --quiet -r requirements-scale.txt
	$(PY) benchmarks/scale.py --calls 20

clean: ## remove caches (not the virtual environment, not results)
	rm -rf .pytest_cache .hypothesis **/__pycache__

.PHONY: help install data analyze test notebooks benchmark benchmark-scale clean
