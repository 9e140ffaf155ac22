# Two entry points for a fresh machine with python3 and make:
#   make run    set up, then run the hourly sharing flow once on generated example data
#   make test   set up, then run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_WORKER_WEBSERVER_HOST := 127.0.0.1
export PREFECT_SERVER_API_HOST := 127.0.0.1

.PHONY: setup run test bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,bench]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/leadshare demo

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/bench.py

clean:
	rm -rf $(VENV) var
