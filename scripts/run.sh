#!/usr/bin/env bash
# Sets up and runs OpenDSM on its embedded defaults: SQLite, in-memory channels, in-process
# tasks, users in the database. Everything listens on 127.0.0.1 only. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh runtime
export PATH="$PWD/.venv/bin:$PATH"
export SMC_DATA_DIR="${SMC_DATA_DIR:-$PWD/var}"
port="${SMC_PORT:-8000}"
scan_port="${SMC_SCANSERVER_PORT:-5362}"

python manage.py migrate --noinput >/dev/null
password_file="$SMC_DATA_DIR/initial-admin-password"
python manage.py ensure_admin --password-file "$password_file"
devices="${SMC_SIMULATED_DEVICES:-3}"
# The demo: a local scan server row, the simulated devices enrolled, user "demo", "Scan to folder".
python manage.py demo_setup --scan-server-port "$scan_port" --devices "$devices" >/dev/null

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

daphne -b 127.0.0.1 -p "$port" smc.asgi:application 2>>"$SMC_DATA_DIR/console.log" & pids+=($!)
# The scan server speaks plain HTTP here only because this is the local demo (DESIGN.md decision 1).
SMC_SCANSERVER_ALLOW_PLAIN_HTTP=1 python manage.py runscanserver --host 127.0.0.1 --port "$scan_port" \
  2>>"$SMC_DATA_DIR/scanserver.log" & pids+=($!)
# Tasks: with no SMC_REDIS_URL the scan server processes on its own worker thread (scanserver/inprocess.py),
# after answering the device; with Redis, a Celery worker.
if [ -n "${SMC_REDIS_URL:-}" ]; then
  celery -A smc worker -Q ingest,deliver,devices --loglevel info >>"$SMC_DATA_DIR/worker.log" 2>&1 & pids+=($!)
  celery -A smc beat --schedule "$SMC_DATA_DIR/celerybeat-schedule" >>"$SMC_DATA_DIR/beat.log" 2>&1 & pids+=($!)
else
  # Retries, the stuck-job reaper and the EndPostScanJob timeout, without a broker.
  python manage.py run_maintenance --every 30 >>"$SMC_DATA_DIR/maintenance.log" 2>&1 & pids+=($!)
fi
python manage.py simulate_devices --count "$devices" --device-tokens "$SMC_DATA_DIR/simulator-tokens.json" \
  >>"$SMC_DATA_DIR/simulator.log" 2>&1 & pids+=($!)

for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
cat <<TXT

OpenDSM is running (embedded defaults; data in $SMC_DATA_DIR)
  Console:      http://127.0.0.1:$port/
  Sign in as:   admin  (password in $password_file)
  Scan server:  http://127.0.0.1:$scan_port/healthz
  Devices:      front panels at http://127.0.0.1:8700/panel/ (and 8701, ... one per device)
  Try it:       sign in at a panel as demo (password in $SMC_DATA_DIR/demo-password),
                pick "Scan to folder", scan; the PDF lands in $SMC_DATA_DIR/scans
  Logs:         $SMC_DATA_DIR/*.log
Press Ctrl-C to stop.
TXT
wait -n "${pids[@]}"
