#!/usr/bin/env bash
# Idempotent set-up for every make target: system packages the tests need, and a
# virtualenv (.venv) with lucia and its test tools installed. Safe to run again: each
# step checks before it acts and says what it is doing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: need root to install $*; install them and run again" >&2
    exit 1
  fi
  if [ ! -f /tmp/.lucia-apt-updated ]; then
    step "apt-get update"
    apt-get update -qq
    touch /tmp/.lucia-apt-updated
  fi
  step "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# A real redis-server for the unit tests (they start their own on a free port).
if ! command -v redis-server >/dev/null 2>&1; then
  apt_install redis-server
fi

stamp="$VENV/.lucia-installed"
if [ ! -x "$VENV/bin/python" ]; then
  step "creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# Reinstall only when the project's dependencies changed.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ service/pyproject.toml -nt "$stamp" ]; then
  step "installing lucia and its test tools into $VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade 'pip>=25.1'
  "$VENV/bin/python" -m pip install --quiet -e ./service -e . --group dev
  touch "$stamp"
fi
step "bootstrap done"
