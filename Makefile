# recfusion: `make run` sets up and runs the whole pipeline; `make test` sets up and tests.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export RECFUSION_HOME ?= $(CURDIR)/.recfusion
export AIRFLOW_HOME ?= $(RECFUSION_HOME)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__PARALLELISM ?= 4
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export MLFLOW_ENABLE_TELEMETRY := false
export DO_NOT_TRACK := 1

.PHONY: install run test lint format tools airflow-test standalone compose-check clean

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# Debian's docker-compose (v1) validates the compose file offline; best effort when not root.
tools:
	@command -v docker-compose >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; } || \
	  echo "docker-compose not installed: the compose test will skip"

run: install
	$(BIN)/recfusion run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	mkdir -p $(RECFUSION_HOME) && cd dbt_project && RECFUSION_WAREHOUSE=$(RECFUSION_HOME)/lint.duckdb \
	  ../$(BIN)/sqlfluff lint models tests macros

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install tools lint
	$(BIN)/pytest -q -ra

# The whole DAG through Airflow on the embedded default (SQLite, in-process executor).
airflow-test: install
	$(BIN)/airflow db migrate >/dev/null
	$(BIN)/airflow dags test recfusion_pipeline

# The Airflow UI on http://localhost:8080; stop it with `make standalone-stop`.
standalone: install
	AIRFLOW__CORE__PARALLELISM=2 setsid $(BIN)/airflow standalone > $(AIRFLOW_HOME)/standalone.log 2>&1 & \
	  echo $$! > $(AIRFLOW_HOME)/standalone.pid; echo "log: $(AIRFLOW_HOME)/standalone.log"

standalone-stop:
	kill -- -$$(cat $(AIRFLOW_HOME)/standalone.pid) && rm $(AIRFLOW_HOME)/standalone.pid

compose-check: tools
	cp -n .env.example .env 2>/dev/null || true
	docker-compose -p recfusion config -q

clean:
	rm -rf $(RECFUSION_HOME)
