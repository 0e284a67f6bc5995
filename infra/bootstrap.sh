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

# What the tests and the deploy tool need from Debian: a real redis-server for the unit
# tests (they start their own on a free port), the Docker engine, debootstrap for the
# base images.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  apt_install "${missing[@]}"
fi

# Daemon settings lucia relies on, written to the daemon's configuration when absent (an
# operator's own value is kept; a running dockerd is never restarted, only told about):
# - "userland-proxy": false: iptables forwards connections to published ports instead of
#   a proxy process copying each one (CIS 2.16; docs/deployment.md, "Performance tuning":
#   1.5x the requests/s on /alive). Ports stay bound to 127.0.0.1.
# - "no-new-privileges": true: every container, Swarm tasks included, runs with
#   no_new_privs (CIS 2.18). A Swarm service cannot ask for it on Docker 20.10 (API 1.41),
#   so the swarm stack relies on it (docs/swarm.md); containers ask for it themselves too.
DOCKERD_CONFIG=${DOCKERD_CONFIG:-/etc/docker/daemon.json}
daemon_settings() {
  "$PYTHON" - "$DOCKERD_CONFIG" <<'PY'
import json, pathlib, sys
path = pathlib.Path(sys.argv[1])
config = json.loads(path.read_text() or "{}") if path.exists() else {}
wanted = {"userland-proxy": False, "no-new-privileges": True}
added = {k: v for k, v in wanted.items() if k not in config}
if added:
    config.update(added)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
print(", ".join(f"{k} {json.dumps(config[k])}" + (" (set)" if k in added else " (kept)")
                for k in wanted) + f" in {path}")
PY
}

# The Docker engine: there is no systemd here, so start dockerd in the background.
if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: the Docker engine is not running and we are not root to start it" >&2
    exit 1
  fi
  # A dockerd killed with its machine leaves a pid file that stops the next one starting.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  step "dockerd: $(daemon_settings)"
  step "starting dockerd (log: /var/log/lucia-dockerd.log)"
  nohup dockerd >/var/log/lucia-dockerd.log 2>&1 &
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "bootstrap: dockerd did not start; see /var/log/lucia-dockerd.log" >&2; exit 1; }
elif [ "$(id -u)" -eq 0 ]; then
  daemon_settings >/dev/null  # written for the next dockerd start; the check below says
elif ! grep -qs '"userland-proxy"' "$DOCKERD_CONFIG" || \
     ! grep -qs '"no-new-privileges"' "$DOCKERD_CONFIG"; then
  step "note: $DOCKERD_CONFIG lacks lucia's daemon settings and we are not root to add" \
       "them (docs/deployment.md)"
fi

stamp="$VENV/.lucia-installed"
if [ ! -x "$VENV/bin/python" ]; then
  step "creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# Reinstall only when the lock or the projects changed. Every dependency comes from the
# lock, pinned and checked against its hashes (make lock writes it; docs/deployment.md);
# then lucia and lucia-ops themselves, editable, adding nothing.
if [ ! -f "$stamp" ] || [ requirements/dev.lock -nt "$stamp" ] || \
   [ pyproject.toml -nt "$stamp" ] || [ service/pyproject.toml -nt "$stamp" ]; then
  step "installing the locked dependencies (requirements/dev.lock) into $VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade 'pip>=25.1'
  "$VENV/bin/python" -m pip install --quiet --require-hashes -r requirements/dev.lock
  "$VENV/bin/python" -m pip install --quiet --no-deps -e ./service -e .
  touch "$stamp"
fi
# The Debian base images (debootstrap + docker import), built once.
"$VENV/bin/python" -m lucia_deploy.images
# Whether the running dockerd has the settings above: a container that asks for nothing
# must still run with no_new_privs.
if ! docker run --rm --network none --entrypoint grep lucia-base:bookworm-python-r1 \
     -q 'NoNewPrivs:[[:space:]]*1' /proc/self/status; then
  step "note: dockerd runs without the settings in $DOCKERD_CONFIG (started before them);" \
       "restart it to apply them; the swarm stack needs no-new-privileges (docs/swarm.md)"
fi
step "bootstrap done"
