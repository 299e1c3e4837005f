#!/usr/bin/env bash
# The whole test suite on real services: sets up, lints, checks, then runs pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -k login).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
export PATH="$PWD/.venv/bin:/usr/sbin:$PATH"
export SMC_DATA_DIR="${SMC_DATA_DIR:-$(mktemp -d /tmp/opendsm-test-XXXXXX)}"
unset SMC_LDAP_URI SMC_DEBUG

# PostgreSQL and Redis: the machine's own on 5432/6379, else throwaway ones stopped on exit.
services_env=$(python -m tests.services ensure)
while IFS='=' read -r key value; do export "$key=$value"; done <<< "$services_env"
trap 'python -m tests.services teardown' EXIT
echo "test: database $SMC_DATABASE_URL, broker $SMC_REDIS_URL"

echo "test: ruff check"; ruff check .
echo "test: ruff format --check"; ruff format --check .
# These two need no database server: run them on the embedded default.
echo "test: manage.py check"; SMC_DATABASE_URL= python manage.py check
echo "test: makemigrations --check"; SMC_DATABASE_URL= python manage.py makemigrations --check --dry-run
echo "test: lint-imports (the layers in pyproject.toml)"; lint-imports
echo "test: mypy"; mypy devices/protocols core directory scanprocesses scanserver smc
echo "test: pytest"
python -m pytest "$@"
