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

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

daphne -b 127.0.0.1 -p "$port" smc.asgi:application 2>>"$SMC_DATA_DIR/console.log" & pids+=($!)
# The scan server speaks plain HTTP here only because this is the local demo (DESIGN.md decision 1).
SMC_SCANSERVER_ALLOW_PLAIN_HTTP=1 daphne -b 127.0.0.1 -p "$scan_port" scanserver.asgi:application \
  2>>"$SMC_DATA_DIR/scanserver.log" & pids+=($!)
if [ -f devices/management/commands/simulate_devices.py ]; then
  python manage.py simulate_devices --count "${SMC_SIMULATED_DEVICES:-3}" >>"$SMC_DATA_DIR/simulator.log" 2>&1 & pids+=($!)
fi

for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
cat <<TXT

OpenDSM is running (embedded defaults; data in $SMC_DATA_DIR)
  Console:      http://127.0.0.1:$port/
  Sign in as:   admin  (password in $password_file)
  Scan server:  http://127.0.0.1:$scan_port/healthz
  Logs:         $SMC_DATA_DIR/*.log
Press Ctrl-C to stop.
TXT
wait -n "${pids[@]}"
