#!/usr/bin/env bash
# Runs once, on the first start of an empty postgres data volume (docker-entrypoint-initdb.d).
# One server, two databases, each owned by its own login role:
#   airflow  - Airflow metadata DB and Celery result backend
#   mlflow   - MLflow tracking + model registry, and the basic-auth user store
# Passwords come from the container environment (compose passes them from .env); psql
# variables (:'name') quote them, so no password is ever spliced into SQL text.
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD is not set}"
: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD is not set}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
    -v airflow_password="$AIRFLOW_DB_PASSWORD" \
    -v mlflow_password="$MLFLOW_DB_PASSWORD" <<'EOSQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
REVOKE ALL ON DATABASE airflow FROM PUBLIC;
REVOKE ALL ON DATABASE mlflow FROM PUBLIC;
EOSQL
