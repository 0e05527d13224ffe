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

# llama.cpp is built for a portable x86-64 level (AVX2), never -march=native: a native build on a CPU with AMX
# dies with "Illegal instruction" in virtual machines that do not grant AMX state. No cached wheel is reused,
# since pip's cache does not key wheels by CMAKE_ARGS.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

install: $(PY) ## create .venv and install pinned requirements and the package (editable)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet --no-cache-dir \
		$$(grep -E '^llama-cpp-python==' requirements.txt)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .

data: ## link the client's calls and labels from ../shared/data into data/
	$(PY) -m callinsights data

# The result files are targets: each is rebuilt when what it is made from is newer, so `make results` knows the
# chain. `make analyze` always runs (the store makes a re-run take seconds), so a fresh clone labels its calls even
# though git gives the committed predictions a new date. The held-out scores in metrics.json come from the hand
# labels (every method is re-run on the labelled calls, many minutes from an empty store), not from the calls
# analyze labels, so they are rebuilt when a label file changes, never because predictions.csv was rewritten:
# `make notebooks` on a fresh clone shows the committed comparison instead of recomputing it.
RESULTS := results/predictions.csv results/metrics.json results/call_insights.csv results/evidence_faithfulness.csv
LABELS  := $(wildcard data/test_actual_label.csv data/guideline_labels.csv)

analyze: install data ## the main job: label every call offline with the embedded model -> results/predictions.csv
	$(PY) -m callinsights analyze $(CALLS) --out results/predictions.csv

results/predictions.csv: | install data
	$(PY) -m callinsights analyze $(CALLS) --out $@

results/metrics.json: $(LABELS) | results/predictions.csv
	$(PY) -m callinsights evaluate

results/call_insights.csv: results/predictions.csv $(LABELS)
	$(PY) -m callinsights insights

results/evidence_faithfulness.csv: results/predictions.csv
	$(PY) -m callinsights evidence

results: $(RESULTS) ## every result file, each rebuilt when the file it is made from changed

# The report check opens every page in headless Chromium (tests/test_browser.py): Debian's `chromium`, installed
# here with apt-get (through sudo unless root) when it is missing, so `make test` sets up a fresh machine itself.
# CHROMIUM=/path/to/chrome names another build and skips the install.
test: install data ## run the tests (real inference, a real model server, Ray, the headless-Chromium check of reports/, the committed notebooks checked and every notebook run small included)
	@if [ -z "$$CHROMIUM" ] && ! command -v chromium >/dev/null 2>&1; then \
		command -v apt-get >/dev/null 2>&1 || { echo "make test: no chromium on PATH and no apt-get to install" \
			"Debian's; install Chromium and run CHROMIUM=/path/to/it make test"; exit 2; }; \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
		echo "make test: installing Debian's chromium for the report check (tests/test_browser.py)"; \
		$$sudo apt-get update && $$sudo apt-get install -y chromium; \
	fi
	$(PY) -m pip install --quiet -r requirements-scale.txt
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=12

# Jupyter refuses to run as root (a container's usual user) unless told to: told so only there.
LAB_PORT ?= 8888

lab: install data ## JupyterLab on notebooks/ with the project's environment (.venv's kernel), port LAB_PORT (8888)
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) \
		$$([ "$$(id -u)" -ne 0 ] || echo --allow-root)

notebooks: install data $(RESULTS) ## execute every notebook top to bottom (they show results/), then render reports/
	$(PY) -m callinsights notebooks run
	$(PY) -m callinsights reports index

reports: install ## render reports/*.html (no code) and *-code.html from the executed notebooks, reports/index.html and calls.html
	$(PY) -m callinsights reports all

# The experiments and benchmarks run from the repository root, as modules (benchmarks/ is not installed).
experiments: install data ## the probe's variants by repeated cross-validation, topic flip rate, accuracy by driver
	$(PY) -m benchmarks.probe_experiments

benchmark: install data ## pipeline speed against llama.cpp's own prompt evaluation
	$(PY) -m benchmarks.throughput --calls 20

benchmark-scale: install data ## calls/min: local, model server at concurrency 1/2/4, Ray with 1/2 workers
	$(PY) -m pip install --quiet -r requirements-scale.txt
	$(PY) -m benchmarks.scale --calls 20

clean: ## remove caches (not the virtual environment, not results)
	rm -rf .pytest_cache .hypothesis **/__pycache__

.PHONY: help install data analyze results test lab notebooks reports experiments benchmark benchmark-scale clean
