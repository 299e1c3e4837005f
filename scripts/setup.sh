#!/usr/bin/env bash
# Installs what OpenDSM needs on a Debian 12 machine (run as root), then the Python venv.
#   scripts/setup.sh runtime   - what the system needs to run (embedded default)
#   scripts/setup.sh dev       - plus what the test suite starts: slapd, Chromium, OCR, ...
# Idempotent: installed packages and an up-to-date venv are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-runtime}"

runtime_pkgs=(libldap2-dev libsasl2-dev openssl fonts-dejavu-core qpdf)
dev_pkgs=(slapd ldap-utils chromium iproute2 tesseract-ocr tesseract-ocr-eng ghostscript qpdf samba samba-ad-dc samba-ad-provision smbclient ldb-tools poppler-utils sane-airscan sane-utils)

missing=()
want=("${runtime_pkgs[@]}")
[ "$mode" = dev ] && want+=("${dev_pkgs[@]}")
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# PostgreSQL and Redis: the tests use the local ones when they run, else start throwaway ones.
if [ "$mode" = dev ]; then
  if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing+=(postgresql)
  fi
  if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && ! command -v redis-server >/dev/null; then
    missing+=(redis-server)
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then echo "setup: need root to install Debian packages: ${missing[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$python" -m venv .venv
fi
req=requirements.txt
[ "$mode" = dev ] && req=requirements-dev.txt
stamp=".venv/.installed-$mode"
digest=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "setup: installing Python packages from $req"
  # (this machine's pip configuration names local mirrors that may be absent: hide those notices)
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import django, ldap, lxml, PIL" || { echo "setup: Python packages failed to install" >&2; exit 1; }
  echo "$digest" > "$stamp"
fi
