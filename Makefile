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

.PHONY: install manifest run test browser-test lint format tools airflow-init airflow-test \
	standalone standalone-stop compose-check audit clean spark-venv spark-test

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

# The dbt manifest the Airflow DAG renders its dbt tasks from (dbt parse; no database).
MANIFEST := dbt_project/target/manifest.json
$(MANIFEST): $(BIN)/.installed $(shell find dbt_project/models dbt_project/macros dbt_project/tests -type f) dbt_project/dbt_project.yml
	mkdir -p $(RECFUSION_HOME)
	cd dbt_project && RECFUSION_WAREHOUSE=$(RECFUSION_HOME)/parse.duckdb \
	  ../$(BIN)/dbt parse --quiet --profiles-dir . --target-path target

manifest: $(MANIFEST)

install: $(BIN)/.installed $(MANIFEST)

# Debian's docker-compose (v1) validates the compose file offline; Debian's chromium and
# chromium-driver run the browser tests. Best effort when not root.
tools:
	@command -v docker-compose >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; } || \
	  echo "docker-compose not installed: the compose test will skip"
	@{ test -x /usr/bin/chromium && test -x /usr/bin/chromedriver; } || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "chromium not installed: the browser tests will skip"

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

# Every test: the browser tests in headless Chromium (`make browser-test` runs just those),
# the faults (SIGKILL inside each stage) and the dbt marts on Spark (`make spark-test`)
# included; the Spark venv is built first so that the Spark test runs rather than skips.
test: install tools lint spark-venv
	$(BIN)/pytest -q -ra

# Just the Airflow and MLflow UIs in headless Chromium (about 7 minutes on 2 cores);
# `make browser-test RECFUSION_SCREENSHOTS=docs/screenshots` refreshes the README's pictures.
browser-test: install tools
	$(if $(RECFUSION_SCREENSHOTS),RECFUSION_SCREENSHOTS=$(abspath $(RECFUSION_SCREENSHOTS))) \
	  $(BIN)/pytest -q -ra -m browser tests/test_browser.py

# Airflow's metadata database (SQLite) and the pools the DAGs use.
airflow-init: install
	$(BIN)/airflow db migrate >/dev/null
	$(BIN)/airflow pools set duckdb_writer 1 "one writer at a time to the DuckDB warehouse" >/dev/null
	$(BIN)/airflow pools set gpu 1 "tasks that use the GPU" >/dev/null

# Both DAGs through Airflow on the embedded default (SQLite, in-process).
airflow-test: airflow-init
	$(BIN)/airflow dags test recfusion_ingest
	$(BIN)/airflow dags test recfusion_train_publish

# dbt on a local Apache Spark (dbt-spark's session method, pyspark; needs Java 17 or 21).
# dbt-spark needs pandas < 3, so it gets a venv of its own; constraints-spark.txt is its lock
# (`pip freeze` of a working install). recfusion.transform runs its dbt when
# RECFUSION_DBT_TARGET=spark and RECFUSION_DBT_EXECUTABLE=.venv-spark/bin/dbt.
SPARK_VENV ?= .venv-spark
SPARK_PACKAGES := dbt-core==1.12.0 dbt-core-experimental-parser==2.0.0a4 \
	'dbt-spark[session]==1.11.0' pyspark==4.3.0 'pandas<3' dbt-duckdb duckdb
$(SPARK_VENV)/.installed: constraints-spark.txt
	test -x $(SPARK_VENV)/bin/python || $(PYTHON) -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/pip install -q --upgrade pip
	$(SPARK_VENV)/bin/pip install -q -c constraints-spark.txt $(SPARK_PACKAGES)
	touch $@

spark-venv: $(SPARK_VENV)/.installed

# The marts built on DuckDB and on Spark from the same generated data, compared row for row.
spark-test: install spark-venv
	$(BIN)/pytest -q -ra -m spark tests/test_spark.py

# The Airflow UI on http://localhost:8080; stop it with `make standalone-stop`.
standalone: airflow-init
	AIRFLOW__CORE__PARALLELISM=2 setsid $(BIN)/airflow standalone > $(AIRFLOW_HOME)/standalone.log 2>&1 & \
	  echo $$! > $(AIRFLOW_HOME)/standalone.pid; echo "log: $(AIRFLOW_HOME)/standalone.log"

standalone-stop:
	kill -- -$$(cat $(AIRFLOW_HOME)/standalone.pid) && rm $(AIRFLOW_HOME)/standalone.pid

compose-check: tools
	cp -n .env.example .env 2>/dev/null || true
	docker-compose -p recfusion config -q

# Known vulnerabilities in the locked set (constraints.txt), from PyPI's vulnerability data
# (`make audit AUDIT_SERVICE=osv` for OSV). pip-audit lives in its own venv, not the
# project's. --strict: a package that could not be looked up fails the audit instead of
# passing unexamined. See docs/security.md.
AUDIT_VENV ?= .venv-audit
AUDIT_SERVICE ?= pypi
audit:
	test -x $(AUDIT_VENV)/bin/pip-audit || { $(PYTHON) -m venv $(AUDIT_VENV) && \
	  $(AUDIT_VENV)/bin/pip install -q pip-audit==2.10.1; }
	$(AUDIT_VENV)/bin/pip-audit -r constraints.txt --no-deps --disable-pip --strict \
	  --vulnerability-service $(AUDIT_SERVICE) --desc on

clean:
	rm -rf $(RECFUSION_HOME)
